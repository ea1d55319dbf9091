// Package verify decides whether a staged boot entry is what its owner
// signed: it finds the signed manifests on the entry's filesystem, checks
// their signatures against the image's keys (package trust), and compares
// the hashes of the bytes that were read (and will be kexec'd) and the
// command line with what a manifest signs.
//
// Manifests live in Dirs at the root of the filesystem holding the entry's
// config, as NAME.manifest with an optional NAME.manifest.sig (package
// manifest). A manifest is tied to an entry by the kernel path it names;
// several may name the same kernel (a normal and a recovery command line),
// and the entry passes if one of them matches exactly. When none does, the
// error says what differs from the closest one, so that a flipped byte, a
// replaced initrd and an edited command line read differently.
package verify

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/warmboot/warmboot/boot/authenticode"
	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/trust"
)

// Dirs are where manifests are looked for, relative to a filesystem root:
// "warmboot" on a separate /boot (or ESP), "boot/warmboot" when /boot is a
// directory of the root filesystem.
var Dirs = []string{"warmboot", "boot/warmboot"}

// Digests are the SHA-256 sums of what was staged, initrds in order.
// For a unified kernel image Kernel is the image file's and Addons its
// add-ons'.
type Digests struct {
	Kernel  [32]byte
	Initrds [][32]byte
	Addons  [][32]byte
	// Authenticode is the check of a UKI's and its add-ons'
	// Authenticode signatures, taken on the same bytes; nil when the
	// trust has no certificates to check them with.
	Authenticode *Authenticode
	// ComposedCmdline is the command line a UKI and its add-ons
	// compose, what an Authenticode signature covers.
	ComposedCmdline string
}

// Authenticode is the outcome of checking the Authenticode signatures of
// a unified kernel image and of each of its add-ons: Err names the first
// that failed.
type Authenticode struct {
	Result authenticode.Result
	Err    error
}

// Candidate is one manifest file and what checking its signature gave.
type Candidate struct {
	// Where names the file for messages: "vda2:/warmboot/x.manifest".
	Where string
	// Kernel is the kernel path the manifest names, if it parsed.
	Kernel string
	M      manifest.Manifest
	Key    *trust.Key
	Err    error
}

// MaxManifests bounds the manifests read from one directory.
const MaxManifests = 1024

// Set is the manifests found on one filesystem.
type Set struct {
	Looked     []string
	Candidates []Candidate
}

// Load reads every manifest in Dirs of fsys and checks its signature.
// device prefixes names in messages. Each file is read once; what is
// checked is the bytes read.
func Load(fsys fs.FS, device string, t trust.Trust) Set {
	var s Set
	src := entry.Source{Device: device}
	where := func(p string) string { return src.At("/" + p) }
	for _, d := range Dirs {
		s.Looked = append(s.Looked, where(d)+"/")
		names, _ := fs.Glob(fsys, path.Join(d, "*.manifest"))
		sort.Strings(names)
		if len(names) > MaxManifests {
			s.Looked[len(s.Looked)-1] += fmt.Sprintf(" (%d manifests; read the first %d)", len(names), MaxManifests)
			names = names[:MaxManifests]
		}
		for _, n := range names {
			s.Candidates = append(s.Candidates, loadOne(fsys, n, where(n), t))
		}
	}
	return s
}

// loadOne reads the manifest n of fsys (where names it) and its
// signature, and checks it.
func loadOne(fsys fs.FS, n, where string, t trust.Trust) Candidate {
	c := Candidate{Where: where}
	data, err := readLimited(fsys, n)
	if err != nil {
		c.Err = err
		return c
	}
	if m, _, _, err := manifest.Parse(data); err == nil {
		c.Kernel = m.Kernel.Path
	}
	sig, err := readLimited(fsys, n+".sig")
	if errors.Is(err, fs.ErrNotExist) {
		sig, err = nil, nil
	}
	if err != nil {
		c.Err = err
	} else {
		c.M, c.Key, c.Err = manifest.Open(data, sig, t)
	}
	return c
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(f, manifest.MaxSize+1)); err != nil {
		return nil, err
	}
	if b.Len() > manifest.MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", manifest.ErrMalformed, manifest.MaxSize)
	}
	return b.Bytes(), nil
}

// Result is a passed check.
type Result struct {
	// Key and Where are the key and the manifest that signed; nil and
	// empty when only an Authenticode signature vouched (a UKI).
	Key   *trust.Key
	Where string
	// Cert is the trusted certificate an Authenticode signature chains
	// to, nil when none was checked.
	Cert *x509.Certificate
	// CmdlineSigned is false when the command line was not compared (an
	// edit allowed as unsigned).
	CmdlineSigned bool
}

// By names what vouched: "ed25519:… (vda1:/warmboot/a.manifest)",
// "certificate "CN" (sha256:…)", or both.
func (r Result) By() string {
	var out []string
	if r.Key != nil {
		out = append(out, fmt.Sprintf("%s (%s)", r.Key.Fingerprint(), r.Where))
	}
	if r.Cert != nil {
		out = append(out, "certificate "+authenticode.Subject(r.Cert)+" (Authenticode)")
	}
	return strings.Join(out, " and ")
}

// Check compares an entry's staged digests and command line with the
// manifests in s. With checkCmdline false (an edited command line the
// policy allows), only the kernel and initrds must match. It returns a
// Result or an error, never both.
func (s Set) Check(e entry.Entry, cmdline string, d Digests, checkCmdline bool) (Result, error) {
	var valid, broken []Candidate
	for _, c := range s.Candidates {
		switch {
		case c.Err == nil && sameKernel(e, c.M.Kernel.Path):
			valid = append(valid, c)
		case c.Err != nil && (c.Kernel == "" || sameKernel(e, c.Kernel)):
			broken = append(broken, c)
		}
	}
	// The best mismatch: the candidate that gets furthest (kernel, then
	// initrds, then command line), so the message names the real change.
	var best *mismatch
	for _, c := range valid {
		mm := compare(e, c, cmdline, d, checkCmdline)
		if mm == nil {
			return Result{Key: c.Key, Where: c.Where, CmdlineSigned: checkCmdline}, nil
		}
		if best == nil || mm.depth > best.depth {
			best = mm
		}
	}
	if best != nil {
		return Result{}, fmt.Errorf("%w: %s", ErrMismatch, best.msg)
	}
	if len(broken) > 0 {
		err := fmt.Errorf("%s: %w", broken[0].Where, broken[0].Err)
		for _, c := range broken[1:] {
			err = fmt.Errorf("%w; %s: %v", err, c.Where, c.Err)
		}
		return Result{}, err
	}
	return Result{}, fmt.Errorf("%w: kernel %s (looked in %s; sign the entry with warmsign sign)",
		ErrNoManifest, e.At(e.Kernel), strings.Join(s.Looked, ", "))
}

// Verdict is a trust policy applied to one staged entry (Apply).
type Verdict struct {
	Policy trust.Policy
	// Result is the passed check; nil when nothing passed: policy off,
	// or policy warn and the check failed.
	Result *Result
	// Failed is why the entry is unverified under policy warn; it boots
	// anyway.
	Failed error
}

// Apply applies t's policy to an entry whose staged bytes have digests
// d, with the manifests of fsys (the entry's filesystem): under off
// nothing is checked; under warn a failed check is Verdict.Failed; under
// enforce it is the error. The bootloader and warmswap both decide this
// way, so warmswap refuses exactly what the bootloader would.
func Apply(fsys fs.FS, t trust.Trust, e entry.Entry, cmdline string, d Digests, checkCmdline bool) (Verdict, error) {
	v := Verdict{Policy: t.Policy}
	if t.Policy == trust.Off {
		return v, nil
	}
	var r Result
	var err error
	switch {
	case e.Net != nil:
		r, err = checkNet(fsys, t, e, cmdline, d, checkCmdline)
	case e.UKI != nil:
		r, err = checkUKI(fsys, t, e, cmdline, d, checkCmdline)
	default:
		r, err = Load(fsys, e.FilesDevice(), t).Check(e, cmdline, d, checkCmdline)
	}
	switch {
	case err == nil:
		v.Result = &r
	case t.Policy == trust.Enforce:
		return Verdict{}, err
	default:
		v.Failed = err
	}
	return v, nil
}

// Event is the trust event warmboot measures in PCR 8 (package measure)
// and tells the booted system: which policy, and which key vouched.
func (v Verdict) Event() string {
	switch {
	case v.Policy == trust.Off:
		return "warmboot_trust: policy=off"
	case v.Result == nil:
		return "warmboot_trust: policy=warn verified=no"
	}
	cl := "signed"
	if !v.Result.CmdlineSigned {
		cl = "unsigned"
	}
	ev := fmt.Sprintf("warmboot_trust: policy=%s", v.Policy)
	if v.Result.Key != nil {
		ev += fmt.Sprintf(" key=%s manifest=%s", v.Result.Key.Fingerprint(), v.Result.Where)
	}
	if c := v.Result.Cert; c != nil {
		sum := sha256.Sum256(c.Raw)
		ev += fmt.Sprintf(" authenticode=sha256:%x", sum[:8])
	}
	return ev + " cmdline=" + cl
}

type mismatch struct {
	depth int
	msg   string
}

func compare(e entry.Entry, c Candidate, cmdline string, d Digests, checkCmdline bool) *mismatch {
	m := c.M
	role := "kernel"
	if e.UKI != nil {
		role = "unified kernel image"
	}
	if m.Kernel.SHA256 != d.Kernel {
		return &mismatch{0, fmt.Sprintf("%s %s has SHA-256 %s, %s signs %s (the file changed after signing: restore it or re-sign)",
			role, e.At(e.Kernel), short(d.Kernel), c.Where, short(m.Kernel.SHA256))}
	}
	if len(m.Addons) != len(d.Addons) {
		return &mismatch{1, fmt.Sprintf("the entry has %d add-ons, %s signs %d (an add-on was added or removed after signing: restore it or re-sign)", len(d.Addons), c.Where, len(m.Addons))}
	}
	for i, f := range m.Addons {
		if f.SHA256 != d.Addons[i] || path.Clean(f.Path) != path.Clean(e.UKI.Addons[i]) {
			return &mismatch{2, fmt.Sprintf("add-on %s has SHA-256 %s, %s signs %s at %s (restore it or re-sign)",
				e.At(e.UKI.Addons[i]), short(d.Addons[i]), c.Where, short(f.SHA256), f.Path)}
		}
	}
	if len(m.Initrds) != len(d.Initrds) {
		return &mismatch{1, fmt.Sprintf("the entry has %d initrds, %s signs %d", len(d.Initrds), c.Where, len(m.Initrds))}
	}
	for i, f := range m.Initrds {
		if f.SHA256 != d.Initrds[i] {
			return &mismatch{2, fmt.Sprintf("initrd %s has SHA-256 %s, %s signs %s (the file changed after signing: restore it or re-sign)",
				e.At(e.Initrds[i]), short(d.Initrds[i]), c.Where, short(f.SHA256))}
		}
	}
	if checkCmdline && m.Cmdline != cmdline {
		return &mismatch{3, fmt.Sprintf("command line %q is not the signed %q (%s)", cmdline, m.Cmdline, c.Where)}
	}
	return nil
}

func short(h [32]byte) string { return fmt.Sprintf("%x...", h[:8]) }

// sameKernel says whether a manifest's kernel path p names e's kernel.
// A unified kernel image is named without its boot counter: counting
// renames the image itself ("x+3.efi", "x+2-1.efi", then "x.efi" once
// blessed), and its bytes, which are what is signed, stay the same.
func sameKernel(e entry.Entry, p string) bool {
	if e.Net != nil {
		// A network manifest names the kernel by its URL's path.
		u, err := url.Parse(e.Kernel)
		return err == nil && u.Path != "" && path.Clean(p) == path.Clean(u.Path)
	}
	if e.UKI != nil {
		return Uncounted(p) == Uncounted(e.Kernel)
	}
	return path.Clean(p) == path.Clean(e.Kernel)
}

// Uncounted is the path p of a unified kernel image without its boot
// counter (bls.ParseCounter): the name a manifest gives it.
func Uncounted(p string) string {
	p = path.Clean(p)
	base, _, ok := bls.ParseCounter(path.Base(p))
	if !ok {
		return p
	}
	return path.Join(path.Dir(p), base+p[len(p)-len(path.Ext(p)):])
}

// ManifestFor is the manifest that signs e with cmdline and digests d.
// A unified kernel image is named without its boot counter (sameKernel).
func ManifestFor(e entry.Entry, cmdline string, d Digests) manifest.Manifest {
	kpath := e.Kernel
	if e.UKI != nil {
		kpath = Uncounted(kpath)
	}
	m := manifest.Manifest{Kernel: manifest.File{Path: kpath, SHA256: d.Kernel}, Cmdline: cmdline}
	for i, p := range e.Initrds {
		m.Initrds = append(m.Initrds, manifest.File{Path: p, SHA256: d.Initrds[i]})
	}
	if e.UKI != nil {
		for i, p := range e.UKI.Addons {
			m.Addons = append(m.Addons, manifest.File{Path: p, SHA256: d.Addons[i]})
		}
	}
	return m
}
