// Package measure records in the TPM what warmboot is about to boot, and
// keeps the event log that lets the booted system check it.
//
// Which PCRs, and why: warmboot stands where GRUB stands in a distribution
// boot chain, so it measures the way GRUB does, and attestation policies
// written for GRUB-booted machines read it unchanged:
//
//   - PCR 9: each file loaded, kernel then initrds in order; the digest is
//     of the file's bytes, the event data the file's name ("vda2:/vmlinuz").
//   - PCR 8: the command line, as the event "kernel_cmdline: <cmdline>"
//     with the digest of the command line itself (as GRUB's
//     grub_tpm_verify_string does); then one warmboot event,
//     "warmboot_trust: policy=... key=... cmdline=signed|unsigned|unverified",
//     which records which key vouched for the entry, as PCR 7 records the
//     Secure Boot authority.
//
// Every event is EV_IPL, extended in every active PCR bank we can hash
// (SHA-1, SHA-256, SHA-384, SHA-512). Event data strings end in a NUL,
// as GRUB's do.
//
// An entry is measured after it is verified and before it is loaded. A
// loaded entry that is then not booted (a failed load, or the preloaded
// default when the user picks another) stays in the PCRs and the log, as
// in GRUB, which measures every file it reads; the log handed to the
// booted system therefore covers every extend warmboot made.
package measure

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"slices"

	"github.com/warmboot/warmboot/boot/eventlog"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/tpm"
)

// The PCRs warmboot extends.
const (
	PCRCmdline = 8
	PCRFiles   = 9
)

// Measurer extends PCRs and logs each extend.
type Measurer struct {
	dev io.ReadWriter
	log eventlog.Log
}

// New queries dev's active PCR banks.
func New(dev io.ReadWriter) (*Measurer, error) {
	banks, err := tpm.Banks(dev)
	if err != nil {
		return nil, err
	}
	var algs []tpm.Alg
	for _, b := range banks {
		if b.Size() == 0 {
			// A bank we cannot hash (SM3) cannot be extended correctly;
			// extending the others would leave it stale, which a verifier
			// reading that bank must notice anyway.
			return nil, fmt.Errorf("TPM has an active %s PCR bank, which warmboot cannot hash", b)
		}
		algs = append(algs, b)
	}
	if len(algs) == 0 {
		return nil, errors.New("TPM has no active PCR bank")
	}
	return &Measurer{dev: dev, log: eventlog.Log{Algs: algs}}, nil
}

// Open opens the TPM under root ("/" on a machine; see tpm.Open) and
// returns a Measurer for it, or an error wrapping ErrNoTPM when there is
// none.
func Open(root string) (*Measurer, io.Closer, error) {
	f, err := tpm.Open(root)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, fmt.Errorf("%w (%v)", ErrNoTPM, err)
		}
		return nil, nil, err
	}
	m, err := New(f)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return m, f, nil
}

// Continue makes the log start with prev, the log of the stages that ran
// before this one since the TPM was reset (a warm swap re-enters the
// bootloader without resetting PCRs): the log handed on then replays to
// the PCR values. prev must carry the same banks; otherwise it is refused
// and the log covers only this stage.
func (m *Measurer) Continue(prev []byte) error {
	l, err := eventlog.Parse(prev)
	if err != nil {
		return err
	}
	if !slices.Equal(l.Algs, m.log.Algs) {
		return fmt.Errorf("previous event log has banks %v, the TPM %v", l.Algs, m.log.Algs)
	}
	m.log.Events = append(l.Events, m.log.Events...)
	return nil
}

// Banks are the banks being extended.
func (m *Measurer) Banks() []tpm.Alg { return slices.Clone(m.log.Algs) }

// Measure hashes r in every bank and extends pcr with it, logging desc.
// known holds digests already computed (the SHA-256 staging took while
// reading); r is read only for the banks it lacks.
func (m *Measurer) Measure(pcr int, r io.Reader, desc string, known map[tpm.Alg][]byte) error {
	var ws []io.Writer
	hashes := map[tpm.Alg]hash.Hash{}
	digests := map[tpm.Alg][]byte{}
	for _, a := range m.log.Algs {
		if d, ok := known[a]; ok && len(d) == a.Size() {
			digests[a] = d
			continue
		}
		hashes[a] = a.New()
		ws = append(ws, hashes[a])
	}
	if len(ws) > 0 {
		if _, err := io.Copy(io.MultiWriter(ws...), r); err != nil {
			return fmt.Errorf("measuring %s: %w", desc, err)
		}
	}
	for a, h := range hashes {
		digests[a] = h.Sum(nil)
	}
	return m.extend(eventlog.Event{PCR: pcr, Type: eventlog.EvIPL, Digests: digests, Data: append([]byte(desc), 0)})
}

// MeasureString extends pcr with the digest of s, logging desc.
func (m *Measurer) MeasureString(pcr int, s, desc string) error {
	digests := map[tpm.Alg][]byte{}
	for _, a := range m.log.Algs {
		digests[a] = a.Sum([]byte(s))
	}
	return m.extend(eventlog.Event{PCR: pcr, Type: eventlog.EvIPL, Digests: digests, Data: append([]byte(desc), 0)})
}

func (m *Measurer) extend(e eventlog.Event) error {
	if err := tpm.Extend(m.dev, e.PCR, e.Digests, m.log.Algs); err != nil {
		return fmt.Errorf("extending PCR %d with %q: %w", e.PCR, e.Data[:len(e.Data)-1], err)
	}
	m.log.Events = append(m.log.Events, e)
	return nil
}

// Image measures a staged entry by the policy above: its kernel then each
// initrd into PCR 9, named as the entry names them on their device, then
// its command line and trustEvent (verify.Verdict.Event) into PCR 8. The
// digests staging took while reading (kexec.WithHashes with every bank,
// as package prepare asks) are used; a bank staging did not hash is read
// from the memfd.
//
// A unified kernel image is measured as ukiImage says; the note returned
// says which PCR its sections went to, and why (empty for other entries).
func (m *Measurer) Image(im *kexec.Image, trustEvent string) (note string, err error) {
	if im.UKI != nil {
		return m.ukiImage(im, trustEvent)
	}
	return "", m.image(im, trustEvent)
}

// known are the digests of sums in the banks being extended.
func (m *Measurer) known(sums kexec.Sums) map[tpm.Alg][]byte {
	out := map[tpm.Alg][]byte{}
	for _, a := range m.log.Algs {
		if d, ok := sums[a.Crypto()]; ok {
			out[a] = d
		}
	}
	return out
}

func (m *Measurer) image(im *kexec.Image, trustEvent string) error {
	e := im.Entry
	known := m.known
	if err := m.Measure(PCRFiles, io.NewSectionReader(im.Kernel, 0, im.KernelSize), e.At(e.Kernel), known(im.KernelSums)); err != nil {
		return err
	}
	for i, part := range im.InitrdParts {
		var sums kexec.Sums
		if i < len(im.InitrdSums) {
			sums = im.InitrdSums[i]
		}
		if err := m.Measure(PCRFiles, io.NewSectionReader(im.Initrd, part.Offset, part.Size), e.At(e.Initrds[i]), known(sums)); err != nil {
			return err
		}
	}
	if err := m.MeasureString(PCRCmdline, im.Cmdline, "kernel_cmdline: "+im.Cmdline); err != nil {
		return err
	}
	return m.MeasureString(PCRCmdline, trustEvent, trustEvent)
}

// Log returns the event log so far.
func (m *Measurer) Log() []byte { return m.log.Marshal() }
