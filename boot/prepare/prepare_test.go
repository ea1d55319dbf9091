package prepare

import (
	"crypto/sha256"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/initramfs"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/verify"
	"github.com/warmboot/warmboot/internal/testtool"
)

type fakeLoader struct {
	loaded []*kexec.Image
	err    error
}

func (f *fakeLoader) Load(im *kexec.Image) (kexec.Method, error) {
	f.loaded = append(f.loaded, im)
	return kexec.FileLoad, f.err
}

// root holds "a" (signed by the returned key) and "b" (unsigned).
func root(t *testing.T) (string, trust.Key) {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	k := testtool.BzImage(4096)
	m := manifest.Manifest{Kernel: manifest.File{Path: "/vmlinuz", SHA256: sha256.Sum256(k)}, Cmdline: "a"}
	for name, data := range map[string][]byte{"vmlinuz": k, "warmboot/a.manifest": m.Sign(priv)} {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, trust.Key{Public: pub}
}

func TestCheck(t *testing.T) {
	dir, key := root(t)
	e := entry.Entry{ID: "a", Label: "A", Kernel: "/vmlinuz", Root: dir, Source: entry.Source{File: "/loader/entries/a.conf"}}
	enforce := trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, Keys: []trust.Key{key}}

	c, err := (&Pipeline{Trust: trust.Trust{Policy: trust.Off}}).Check(e, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	// SHA-256 is always taken (an entry is known by what it boots).
	if c.Image.KernelSHA256 == ([32]byte{}) || c.Verdict.Policy != trust.Off || c.Notes() != nil {
		t.Errorf("policy off: hashed %x, verdict %+v, notes %v; want the kernel's SHA-256 and nothing to say", c.Image.KernelSHA256, c.Verdict, c.Notes())
	}
	c.Image.Close()

	c, err = (&Pipeline{Trust: enforce}).Check(e, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Notes(); len(n) != 1 || n[0].Warning || !strings.HasPrefix(n[0].Msg, "verified: signed by "+key.Fingerprint()) {
		t.Errorf("notes = %v, want the signing key", n)
	}
	c.Image.Close()

	var refused *Refused
	if _, err := (&Pipeline{Trust: enforce}).Check(e, "b", false); !errors.As(err, &refused) || !errors.Is(err, verify.ErrMismatch) {
		t.Errorf("changed command line: %v, want a *Refused wrapping ErrMismatch", err)
	}
	if _, err := (&Pipeline{TrustErr: errors.New("bad key file")}).Check(e, "a", false); !errors.As(err, &refused) || !strings.Contains(err.Error(), "trust directory is broken: bad key file") {
		t.Errorf("broken trust: %v, want a *Refused", err)
	}
	warn := enforce
	warn.Policy = trust.Warn
	c, err = (&Pipeline{Trust: warn}).Check(e, "b", false)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.Notes(); len(n) != 1 || !n[0].Warning || !strings.HasSuffix(n[0].Msg, "booting it anyway (policy warn)") {
		t.Errorf("warn notes = %v", n)
	}
	c.Image.Close()
	var ferr *kexec.FileError
	e.Kernel = "/gone"
	if _, err := (&Pipeline{Trust: enforce}).Check(e, "a", false); !errors.As(err, &ferr) {
		t.Errorf("missing kernel: %v, want a *kexec.FileError", err)
	}
}

// Finish appends the handoff (files and the booted record with the trust
// event), seals, and loads once.
func TestPrepare(t *testing.T) {
	dir, key := root(t)
	e := entry.Entry{ID: "a", Label: "A", Kernel: "/vmlinuz", Root: dir}
	l := &fakeLoader{}
	p := &Pipeline{Trust: trust.Trust{Policy: trust.Enforce, Keys: []trust.Key{key}}, Loader: l}
	pr, err := p.Prepare(e, "a", false, map[string][]byte{handoff.Dir + "/x": []byte("y")}, func() handoff.Booted {
		return handoff.Booted{Entry: e.ID, By: "test"}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Image.Close()
	if len(l.loaded) != 1 || l.loaded[0] != pr.Image || pr.Method != kexec.FileLoad {
		t.Errorf("loaded %v by %q, want the image once", l.loaded, pr.Method)
	}
	if _, err := pr.Image.Initrd.Write([]byte("z")); err == nil {
		t.Error("the initramfs is writable after Prepare; want it sealed")
	}
	data, _ := io.ReadAll(io.NewSectionReader(pr.Image.Initrd, 0, pr.Image.InitrdSize))
	files, err := initramfs.Read(data, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	b, err := handoff.ParseBooted(files[strings.TrimPrefix(handoff.BootedFile, "/")])
	if err != nil {
		t.Fatalf("booted.json: %v (files %v)", err, files)
	}
	if b.By != "test" || !strings.Contains(b.Trust, "policy=enforce key="+key.Fingerprint()) || string(files[strings.TrimPrefix(handoff.Dir, "/")+"/x"]) != "y" {
		t.Errorf("handoff: booted %+v, files %v", b, files)
	}

	l.err = errors.New("no memory")
	if _, err := p.Prepare(e, "a", false, nil, nil); err == nil || !strings.Contains(err.Error(), "no memory") {
		t.Errorf("failed load: %v", err)
	}
}
