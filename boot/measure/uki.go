package measure

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash"
	"io"
	"path"
	"strconv"
	"unicode/utf16"

	"github.com/warmboot/warmboot/boot/eventlog"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/tpm"
	"github.com/warmboot/warmboot/boot/uki"
)

// The PCRs sd-stub extends, and the tag of its profile event.
const (
	PCRKernelBoot   = 11
	PCRKernelConfig = 12
	evEventTag      = 0x00000006
	profileEventTag = 0x13aed6db
	initrdAddonTag  = 0x49dffe0f
	ucodeAddonTag   = 0xdac08e1a
)

// ukiImage measures a unified kernel image entry. As for any entry, the
// files read go into PCR 9 (the image, then its add-ons) and the command
// line and trust event into PCR 8. Then, as sd-stub would have measured
// the image had the firmware started it, and only while PCR 11 is still
// zero in every bank (nothing has measured a kernel since the TPM was
// reset; a warm swap re-enters warmboot with it extended):
//
//   - PCR 11: each section of the booted profile present, in sd-stub's
//     order (uki.Measured), as two EV_IPL events: its name with the
//     trailing NUL, then its contents; each event's data is the name in
//     UTF-16LE with a NUL, as sd-stub logs it. systemd-measure predicts
//     the result, so a policy bound to it unseals here as under sd-stub.
//   - PCR 12: for a profile other than the first, an EV_EVENT_TAG event
//     with its number; an edited command line (EV_IPL); each add-on's
//     .initrd and .ucode (EV_EVENT_TAG, named by the add-on's file); the
//     add-ons' command lines, joined, as one EV_IPL event (not when an
//     edited command line replaced them).
//
// The PCR used for the sections is said in the returned note.
func (m *Measurer) ukiImage(im *kexec.Image, trustEvent string) (string, error) {
	e, ui := im.Entry, im.UKI
	if err := m.Measure(PCRFiles, io.NewSectionReader(ui.File, 0, ui.Size), e.At(e.Kernel), m.known(im.KernelSums)); err != nil {
		return "", err
	}
	for _, a := range ui.Addons {
		if err := m.Measure(PCRFiles, io.NewSectionReader(a.File, 0, a.Size), e.At(a.Path), m.known(a.Sums)); err != nil {
			return "", err
		}
	}
	if err := m.MeasureString(PCRCmdline, im.Cmdline, "kernel_cmdline: "+im.Cmdline); err != nil {
		return "", err
	}
	if err := m.MeasureString(PCRCmdline, trustEvent, trustEvent); err != nil {
		return "", err
	}
	pristine, err := m.pristine(PCRKernelBoot)
	if err != nil {
		return "", err
	}
	if !pristine {
		return fmt.Sprintf("measured %s into PCR 9 as a file, not its sections into PCR 11 as sd-stub would: PCR 11 is already extended (a kernel was booted since the TPM was last reset, as after a warm swap), so a policy predicted for it could not match anyway", e.At(e.Kernel)), nil
	}
	for _, name := range uki.Measured {
		s, ok := ui.Sections[name]
		if !ok || s.Size == 0 {
			continue
		}
		desc := utf16z(name)
		if err := m.extendData(PCRKernelBoot, eventlog.EvIPL, append([]byte(name), 0), desc); err != nil {
			return "", err
		}
		if err := m.measureRaw(PCRKernelBoot, eventlog.EvIPL, s.Reader(ui.File), desc); err != nil {
			return "", err
		}
	}
	if p := e.UKI.Profile; p != 0 {
		n := utf16z(strconv.Itoa(p))
		tagged := binary.LittleEndian.AppendUint32(nil, profileEventTag)
		tagged = binary.LittleEndian.AppendUint32(tagged, uint32(len(n)))
		tagged = append(tagged, n...)
		if err := m.extendData(PCRKernelConfig, evEventTag, n, tagged); err != nil {
			return "", err
		}
	}
	edited := im.Cmdline != ui.Cmdline
	if edited {
		if err := m.extendData(PCRKernelConfig, eventlog.EvIPL, utf16z(im.Cmdline), utf16z(im.Cmdline)); err != nil {
			return "", err
		}
	}
	// The add-ons' initrd and microcode, each a tagged event with the
	// add-on's name, as sd-stub's load_addons measures them.
	for _, a := range ui.Addons {
		for _, t := range []struct {
			name string
			tag  uint32
		}{{uki.Initrd, initrdAddonTag}, {uki.Ucode, ucodeAddonTag}} {
			s, ok := a.UKI.Base[t.name]
			if !ok || s.Size == 0 {
				continue
			}
			desc := utf16z(path.Base(a.Path))
			tagged := binary.LittleEndian.AppendUint32(nil, t.tag)
			tagged = binary.LittleEndian.AppendUint32(tagged, uint32(len(desc)))
			tagged = append(tagged, desc...)
			if err := m.measureRaw(PCRKernelConfig, evEventTag, s.Reader(a.File), tagged); err != nil {
				return "", err
			}
		}
	}
	// The add-ons' command lines, unless the user's replaced them.
	var extra []string
	for _, a := range ui.Addons {
		if a.Cmdline != "" && !edited {
			extra = append(extra, a.Cmdline)
		}
	}
	if len(extra) > 0 {
		s := utf16z(joinSpace(extra))
		if err := m.extendData(PCRKernelConfig, eventlog.EvIPL, s, s); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("measured the sections of %s into PCR 11 as sd-stub does (PCR 11 was zero: the first kernel since the TPM was reset)", e.At(e.Kernel)), nil
}

func joinSpace(ss []string) string {
	var b bytes.Buffer
	for i, s := range ss {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	return b.String()
}

// pristine says pcr is zero in every bank.
func (m *Measurer) pristine(pcr int) (bool, error) {
	for _, a := range m.log.Algs {
		v, err := tpm.Read(m.dev, pcr, a)
		if err != nil {
			return false, fmt.Errorf("reading PCR %d: %w", pcr, err)
		}
		if !bytes.Equal(v, make([]byte, len(v))) {
			return false, nil
		}
	}
	return true, nil
}

// utf16z is s in UTF-16LE with a NUL, as sd-stub writes event data.
func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

// extendData extends pcr with the digest of data, logging event data ev.
func (m *Measurer) extendData(pcr int, typ uint32, data, ev []byte) error {
	digests := map[tpm.Alg][]byte{}
	for _, a := range m.log.Algs {
		digests[a] = a.Sum(data)
	}
	return m.extend(eventlog.Event{PCR: pcr, Type: typ, Digests: digests, Data: ev})
}

// measureRaw extends pcr with the digest of r, logging event data ev.
func (m *Measurer) measureRaw(pcr int, typ uint32, r io.Reader, ev []byte) error {
	hs := map[tpm.Alg]hash.Hash{}
	var ws []io.Writer
	for _, a := range m.log.Algs {
		hs[a] = a.New()
		ws = append(ws, hs[a])
	}
	if _, err := io.Copy(io.MultiWriter(ws...), r); err != nil {
		return fmt.Errorf("measuring PCR %d: %w", pcr, err)
	}
	digests := map[tpm.Alg][]byte{}
	for a, h := range hs {
		digests[a] = h.Sum(nil)
	}
	return m.extend(eventlog.Event{PCR: pcr, Type: typ, Digests: digests, Data: ev})
}
