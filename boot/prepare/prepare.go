// Package prepare is the one way an entry becomes a kernel ready to kexec:
// stage (read once into sealed memfds, taking in that same pass every
// digest verifying and measuring need), verify (the image's trust
// policy), measure (the TPM, as package measure documents), hand off (a
// cpio segment for the booted system: the event log and booted.json),
// seal, and load.
//
// The bootloader, warmswap (through the bootloader, -direct, -load) and
// "warmsign verify" all go through a Pipeline, so what warmswap or
// warmsign says about an entry is what the bootloader will say, decided
// by the same code. Nothing here kexecs: the caller's main does that.
package prepare

import (
	"context"
	"crypto"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"slices"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/measure"
	"github.com/warmboot/warmboot/boot/netboot/netfs"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/uki"
	"github.com/warmboot/warmboot/boot/verify"
)

// Loader loads a sealed image for kexec; kexec.Loader is the machine's.
type Loader interface {
	Load(im *kexec.Image) (kexec.Method, error)
}

// Pipeline holds what preparing an entry depends on. The zero value
// stages and seals unverified, unmeasured images and loads nothing.
type Pipeline struct {
	Trust trust.Trust
	// TrustErr, when set, refuses every entry: an image built with a
	// broken trust directory must not boot unchecked.
	TrustErr error
	// Measurer extends the TPM; nil when there is none.
	Measurer *measure.Measurer
	// Loader loads the sealed image; nil leaves it unloaded (warmswap
	// loads once its plan is printed).
	Loader Loader
	// Log receives what the steps say on their own (the kexec_load
	// fallback); nil discards.
	Log *slog.Logger
	// Timeline, if set, times the read, verify, measure and load phases.
	Timeline *timeline.Timeline
	// Fetch reads network entries' files and manifests (entry.Net);
	// nil refuses network entries.
	Fetch netfs.Fetcher
	// Read are files the caller has already read whole, by their path
	// in the entry: staged from memory, not read again (kexec.WithRead).
	Read map[string][]byte
}

// Refused is an entry the trust policy refuses (errors.As).
type Refused struct {
	Entry entry.Entry
	Err   error
}

func (r *Refused) Error() string { return r.Err.Error() }
func (r *Refused) Unwrap() error { return r.Err }

// Verified is an entry and the policy's verdict on it.
type Verified struct {
	Entry   entry.Entry
	Verdict verify.Verdict
}

// Checked is a staged entry and the policy's verdict on it. Its image is
// not sealed yet: Finish appends the handoff and seals it.
type Checked struct {
	Verified
	Image *kexec.Image
}

// Notes are what the bootloader says when it boots the entry: the key
// that signed it, or that it boots unverified.
func (c Verified) Notes() []clog.Note {
	v, e := c.Verdict, c.Entry
	switch {
	case v.Failed != nil:
		return []clog.Note{clog.Warningf("%q is not verified: %v; booting it anyway (policy warn)", e.Label, v.Failed)}
	case v.Result != nil:
		var out []clog.Note
		if !v.Result.CmdlineSigned {
			out = append(out, clog.Notef("booting an edited command line that no one signed (policy allows edits); kernel and initrds are signed by %s", v.Result.By()))
		}
		return append(out, clog.Notef("verified: signed by %s", v.Result.By()))
	}
	return nil
}

// Verifying says whether entries are checked (or, with a broken trust
// directory, refused) rather than booted unverified. Only then, or with a
// TPM to measure into, is anything hashed while staging: hashing costs as
// much as reading on a slow machine.
func (p *Pipeline) Verifying() bool { return p.TrustErr != nil || p.Trust.Policy != trust.Off }

// hashes are the digests staging takes, in its one read of each file:
// SHA-256 (to verify, and to know an entry by what it boots across boots:
// state.Boots), and every bank of the TPM to measure.
func (p *Pipeline) hashes() []crypto.Hash {
	hs := []crypto.Hash{crypto.SHA256}
	if p.Measurer != nil {
		for _, a := range p.Measurer.Banks() {
			if c := a.Crypto(); c != 0 && !slices.Contains(hs, c) {
				hs = append(hs, c)
			}
		}
	}
	return hs
}

func (p *Pipeline) begin(phase string) func() {
	if p.Timeline == nil {
		return func() {}
	}
	return p.Timeline.Begin(phase)
}

// Check stages e with cmdline and applies the policy. edited says the
// operator changed the command line (the policy's edits rule applies). A
// refusal is a *Refused; a file that cannot be read is a *kexec.FileError.
func (p *Pipeline) Check(e entry.Entry, cmdline string, edited bool) (*Checked, error) {
	return p.CheckContext(context.Background(), e, cmdline, edited)
}

// CheckContext is Check, a network entry's fetches ended when ctx ends.
func (p *Pipeline) CheckContext(ctx context.Context, e entry.Entry, cmdline string, edited bool) (*Checked, error) {
	phase := "read"
	if e.Net != nil {
		phase = "fetch" // from the network, read and hashed as it arrives
	}
	end := p.begin(phase)
	opts := []kexec.StageOption{kexec.WithHashes(p.hashes()...), kexec.WithEdited(edited), kexec.WithContext(ctx)}
	if p.Fetch != nil {
		opts = append(opts, kexec.WithFetcher(p.Fetch))
	}
	if p.Read != nil {
		opts = append(opts, kexec.WithRead(p.Read))
	}
	im, err := kexec.Stage(e, cmdline, opts...)
	end()
	if err != nil {
		return nil, err
	}
	d := verify.Digests{Kernel: im.KernelSHA256, Initrds: im.InitrdSHA256s}
	if im.UKI != nil {
		for _, a := range im.UKI.Addons {
			d.Addons = append(d.Addons, a.SHA256)
		}
		d.ComposedCmdline = im.UKI.Cmdline
		if p.Verifying() && p.TrustErr == nil {
			d.Authenticode = p.checkAuthenticode(im)
		}
		// Whether the image carries its command line is read from the
		// staged bytes, not from the listing: the edit rules turn on it.
		u := *e.UKI
		_, u.EmbeddedCmdline = im.UKI.Sections[uki.Cmdline]
		e.UKI = &u
	}
	// A unified kernel image's command line is what its verified bytes
	// compose, not what it said when it was listed.
	v, err := p.apply(ctx, e, im.Cmdline, edited, d)
	if err != nil {
		im.Close()
		return nil, err
	}
	return &Checked{Verified: v, Image: im}, nil
}

// Verify applies the policy to e's files as they are on disk, without
// staging them (kexec.Digests, which reuses the digests in sums): for a
// running system asking whether the bootloader, which will read and
// check the files itself, would boot e. Errors are as Check's.
func (p *Pipeline) Verify(e entry.Entry, cmdline string, edited bool, sums *sumcache.Cache) (Verified, error) {
	var d verify.Digests
	if p.Verifying() {
		var err error
		if d, err = Digests(e, sums); err != nil {
			return Verified{}, err
		}
		d.Authenticode, d.ComposedCmdline = p.diskAuthenticode(e)
	}
	return p.apply(context.Background(), e, cmdline, edited, d)
}

// Digests are the digests of e's files on disk as a manifest signs them
// (kexec.Digests: a UKI's add-ons are Addons, not Initrds), checked as
// staging checks them.
func Digests(e entry.Entry, sums *sumcache.Cache) (verify.Digests, error) {
	var d verify.Digests
	var err error
	if d.Kernel, d.Initrds, err = kexec.Digests(e, sums); err != nil {
		return verify.Digests{}, err
	}
	if e.UKI != nil {
		d.Addons, d.Initrds = d.Initrds, nil
	}
	return d, nil
}

// apply is the policy's verdict on e with the digests d of its files.
func (p *Pipeline) apply(ctx context.Context, e entry.Entry, cmdline string, edited bool, d verify.Digests) (Verified, error) {
	if !p.Verifying() {
		return Verified{Entry: e, Verdict: verify.Verdict{Policy: trust.Off}}, nil
	}
	// Only time verification when there is some: a "verify=" phase in an
	// unverified boot would mislead.
	end := p.begin("verify")
	defer end()
	if p.TrustErr != nil {
		return Verified{}, &Refused{e, fmt.Errorf("the image's trust directory is broken: %w", p.TrustErr)}
	}
	if edited && e.UKI != nil && e.UKI.EmbeddedCmdline && p.Trust.Policy == trust.Enforce {
		// As sd-stub ignores a command line passed to a UKI with its
		// own .cmdline under Secure Boot.
		return Verified{}, &Refused{e, fmt.Errorf("%s carries its own command line (.cmdline), which cannot be edited under policy enforce: boot it unedited, or build the image without .cmdline and sign each command line in a manifest", e.At(e.Kernel))}
	}
	checkCmdline := !(edited && p.Trust.Edits == trust.EditsUnsigned)
	var fsys fs.FS
	if e.Net != nil {
		u, err := url.Parse(e.Kernel)
		if err != nil || p.Fetch == nil {
			return Verified{}, &Refused{e, fmt.Errorf("network entry %s cannot be checked here (no network)", e.Kernel)}
		}
		fsys = netfs.Root(ctx, p.Fetch, u, manifest.MaxSize+1)
	} else {
		dir := safefs.Dir(e.Root)
		defer dir.Close()
		fsys = dir
	}
	v, err := verify.Apply(fsys, p.Trust, e, cmdline, d, checkCmdline)
	if err != nil {
		return Verified{}, &Refused{e, err}
	}
	return Verified{Entry: e, Verdict: v}, nil
}

// Finish measures c (when there is a TPM), appends the handoff segment
// (files, the event log, and the record booted returns, with its Trust
// filled in, if booted is not nil: it is called once measuring is done,
// so a timeline in it covers that), seals the image and loads it (when
// there is a Loader). On error the image is closed.
func (p *Pipeline) Finish(c *Checked, files map[string][]byte, booted func() handoff.Booted) (kexec.Method, error) {
	im := c.Image
	method, err := p.finish(c, files, booted)
	if err != nil {
		im.Close()
	}
	return method, err
}

func (p *Pipeline) finish(c *Checked, files map[string][]byte, booted func() handoff.Booted) (kexec.Method, error) {
	im := c.Image
	files = maps.Clone(files)
	if files == nil {
		files = map[string][]byte{}
	}
	event := c.Verdict.Event()
	if p.Measurer != nil {
		end := p.begin("measure")
		note, err := p.Measurer.Image(im, event)
		end()
		if err != nil {
			return "", err
		}
		if note != "" && p.Log != nil {
			clog.Infof(p.Log, "%s", note)
		}
		files[handoff.EventLog] = p.Measurer.Log()
	}
	if booted != nil {
		b := booted()
		b.Trust = event
		data, err := b.Marshal()
		if err != nil {
			return "", err
		}
		files[handoff.BootedFile] = data
	}
	var seg []byte
	if len(files) > 0 {
		var err error
		if seg, err = handoff.Segment(files); err != nil {
			return "", fmt.Errorf("staging the handoff: %w", err)
		}
	}
	if err := im.Seal(seg); err != nil {
		return "", err
	}
	if p.Loader == nil {
		return "", nil
	}
	end := p.begin("load")
	defer end()
	return p.Loader.Load(im)
}

// Prepared is an entry ready to kexec.
type Prepared struct {
	*Checked
	Method kexec.Method
}

// Prepare is Check then Finish: the whole way from an entry to a loaded
// image, or the reason it cannot boot.
func (p *Pipeline) Prepare(e entry.Entry, cmdline string, edited bool, files map[string][]byte, booted func() handoff.Booted) (*Prepared, error) {
	c, err := p.Check(e, cmdline, edited)
	if err != nil {
		return nil, err
	}
	m, err := p.Finish(c, files, booted)
	if err != nil {
		return nil, err
	}
	return &Prepared{Checked: c, Method: m}, nil
}
