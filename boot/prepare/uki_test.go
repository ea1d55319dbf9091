package prepare

import (
	"bytes"
	"crypto/x509"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/authenticode"
	"github.com/warmboot/warmboot/boot/authenticode/actest"
	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/boot/verify"
	"github.com/warmboot/warmboot/internal/testtool"
)

func usec(name string, data []byte) ukitest.Section { return ukitest.Section{Name: name, Data: data} }

// ukiRoot is an ESP with a two-profile UKI and a global add-on.
func ukiRoot(t *testing.T) (dir string, kernel []byte) {
	t.Helper()
	dir = t.TempDir()
	kernel = testtool.BzImage(8192)
	files := map[string][]byte{
		"EFI/Linux/debian-6.12+3.efi": ukitest.Build(
			usec(".osrel", []byte("ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 13\"\nVERSION_ID=13\n")),
			usec(".uname", []byte("6.12.9-amd64")),
			usec(".linux", kernel),
			usec(".ucode", []byte("UCODE")),
			usec(".initrd", []byte("INITRD-NORMAL")),
			usec(".profile", []byte("ID=normal\nTITLE=Normal\n")),
			usec(".cmdline", []byte("root=/dev/vda2 quiet\n")),
			usec(".profile", []byte("ID=rescue\nTITLE='Rescue shell'\n")),
			usec(".cmdline", []byte("root=/dev/vda2 rescue")),
			usec(".initrd", []byte("INITRD-RESCUE")),
		),
		"loader/addons/console.addon.efi": ukitest.Build(usec(".cmdline", []byte("console=ttyS0"))),
	}
	for name, data := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, kernel
}

func listUKIs(t *testing.T, dir string) []entry.Entry {
	t.Helper()
	cfg, err := bls.Parse(os.DirFS(dir), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Warnings) > 0 {
		t.Fatalf("warnings: %v", cfg.Warnings)
	}
	for i := range cfg.Entries {
		cfg.Entries[i].Root = dir
	}
	return cfg.Entries
}

func TestUKI(t *testing.T) {
	dir, kernel := ukiRoot(t)
	es := listUKIs(t, dir)
	_ = kernel
	if len(es) != 2 {
		t.Fatalf("entries = %+v, want one per profile", es)
	}
	for i, want := range []struct{ id, label, cmdline string }{
		{"debian-6.12.efi", "Debian GNU/Linux 13 6.12.9-amd64 (Normal)", "root=/dev/vda2 quiet console=ttyS0"},
		{"debian-6.12.efi@rescue", "Debian GNU/Linux 13 6.12.9-amd64 (Rescue shell)", "root=/dev/vda2 rescue console=ttyS0"},
	} {
		e := es[i]
		if e.ID != want.id || e.Label != want.label || e.Cmdline != want.cmdline || e.TriesLeft != 3 || e.Kernel != "/EFI/Linux/debian-6.12+3.efi" {
			t.Errorf("entry %d = %+v, want %+v", i, e, want)
		}
	}

	pub, priv, _ := trust.Generate()
	enforce := trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, Keys: []trust.Key{{Public: pub}}}
	p := &Pipeline{Trust: enforce}
	// Sign both profiles as warmsign would: the image, the add-on, and
	// the command line they compose.
	os.MkdirAll(filepath.Join(dir, "warmboot"), 0o755)
	for _, e := range es {
		v, err := (&Pipeline{Trust: trust.Trust{Policy: trust.Off}}).Check(e, e.Cmdline, false)
		if err != nil {
			t.Fatal(err)
		}
		d := verify.Digests{Kernel: v.Image.KernelSHA256}
		for _, a := range v.Image.UKI.Addons {
			d.Addons = append(d.Addons, a.SHA256)
		}
		m := verify.ManifestFor(e, v.Image.Cmdline, d)
		v.Image.Close()
		if err := os.WriteFile(filepath.Join(dir, "warmboot", strings.ReplaceAll(e.ID, "@", "_")+".manifest"), m.Sign(priv), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	for i, want := range []struct{ initrd, cmdline string }{
		{"UCODE\x00\x00\x00INITRD-NORMAL\x00\x00\x00", "root=/dev/vda2 quiet console=ttyS0"},
		{"UCODE\x00\x00\x00INITRD-RESCUE\x00\x00\x00", "root=/dev/vda2 rescue console=ttyS0"},
	} {
		c, err := p.Check(es[i], es[i].Cmdline, false)
		if err != nil {
			t.Fatalf("profile %d: %v", i, err)
		}
		k, _ := io.ReadAll(io.NewSectionReader(c.Image.Kernel, 0, c.Image.KernelSize))
		initrd, _ := io.ReadAll(io.NewSectionReader(c.Image.Initrd, 0, c.Image.InitrdSize))
		if !bytes.Equal(k, kernel) || string(initrd) != want.initrd || c.Image.Cmdline != want.cmdline {
			t.Errorf("profile %d staged kernel %d bytes (want %d), initrd %q, cmdline %q; want %+v", i, len(k), len(kernel), initrd, c.Image.Cmdline, want)
		}
		if _, err := c.Image.Kernel.Write([]byte("x")); err == nil {
			t.Errorf("profile %d: the kernel memfd is writable", i)
		}
		c.Image.Close()
	}

	// Edits of an embedded command line are refused under enforce.
	var refused *Refused
	if _, err := p.Check(es[0], "init=/bin/sh", true); !errors.As(err, &refused) || !strings.Contains(err.Error(), "carries its own command line") {
		t.Errorf("edited: %v, want refused", err)
	}
	// warmswap's check (digests of the files on disk) agrees.
	if _, err := p.Verify(es[0], es[0].Cmdline, false, nil); err != nil {
		t.Errorf("Verify: %v", err)
	}

	// A byte flipped in .linux, .initrd or .cmdline of the image, or in
	// the add-on, is refused.
	file := filepath.Join(dir, "EFI/Linux/debian-6.12+3.efi")
	orig, _ := os.ReadFile(file)
	for _, what := range []string{"INITRD-NORMAL", "quiet", "kernel"} {
		b := bytes.Clone(orig)
		i := bytes.Index(b, []byte(what))
		if what == "kernel" {
			i = bytes.Index(b, kernel) + len(kernel) - 10
		}
		b[i] ^= 0x20
		os.WriteFile(file, b, 0o644)
		if _, err := p.Check(es[0], es[0].Cmdline, false); !errors.As(err, &refused) || !errors.Is(err, verify.ErrMismatch) || !strings.Contains(err.Error(), "unified kernel image") {
			t.Errorf("%q flipped: %v, want refused as changed", what, err)
		}
		if _, err := p.Verify(es[0], es[0].Cmdline, false, nil); !errors.As(err, &refused) {
			t.Errorf("%q flipped: Verify = %v, want refused", what, err)
		}
	}
	os.WriteFile(file, orig, 0o644)
	addon := filepath.Join(dir, "loader/addons/console.addon.efi")
	a, _ := os.ReadFile(addon)
	a[bytes.Index(a, []byte("ttyS0"))] = 'X'
	os.WriteFile(addon, a, 0o644)
	if _, err := p.Check(es[0], es[0].Cmdline, false); !errors.As(err, &refused) || !strings.Contains(err.Error(), "add-on") {
		t.Errorf("add-on changed: %v, want refused naming it", err)
	}
}

// A hostile image is an error naming it, at listing and at staging.
func TestUKIMalformed(t *testing.T) {
	dir, _ := ukiRoot(t)
	es := listUKIs(t, dir)
	file := filepath.Join(dir, "EFI/Linux/debian-6.12+3.efi")
	b, _ := os.ReadFile(file)
	os.WriteFile(file, b[:len(b)/2], 0o644)
	var ferr *kexec.FileError
	if _, err := (&Pipeline{}).Check(es[0], es[0].Cmdline, false); !errors.As(err, &ferr) || !strings.Contains(err.Error(), "EFI/Linux/debian-6.12+3.efi") {
		t.Errorf("truncated: %v, want a FileError naming the file", err)
	}
	cfg, err := bls.Parse(os.DirFS(dir), nil)
	if err != nil || len(cfg.Entries) != 0 || len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0].String(), "runs past the end") {
		t.Errorf("listing a truncated image: %+v, %v", cfg, err)
	}
}

// The policy's uki rule: Authenticode by a trusted certificate (sbsign)
// vouches under "either" and "authenticode"; a stranger's does not; an
// image changed after signing fails both ways; "both" needs a manifest
// too.
func TestUKIAuthenticode(t *testing.T) {
	dir, _ := ukiRoot(t)
	db := actest.New(t, t.TempDir(), "db", nil, false)
	stranger := actest.New(t, t.TempDir(), "stranger", nil, false)
	file := filepath.Join(dir, "EFI/Linux/debian-6.12+3.efi")
	addon := filepath.Join(dir, "loader/addons/console.addon.efi")
	orig, _ := os.ReadFile(file)
	origAddon, _ := os.ReadFile(addon)
	sign := func(s *actest.Signer) {
		os.WriteFile(file, s.Sign(t, orig), 0o644)
		os.WriteFile(addon, s.Sign(t, origAddon), 0o644)
	}
	sign(db)
	es := listUKIs(t, dir)
	pub, _, _ := trust.Generate()
	tr := func(rule trust.UKIRule) *Pipeline {
		return &Pipeline{Trust: trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, UKI: rule, Keys: []trust.Key{{Public: pub}}, Certs: []*x509.Certificate{db.Cert}}}
	}
	for _, rule := range []trust.UKIRule{"", trust.UKIAuthenticode} {
		c, err := tr(rule).Check(es[1], es[1].Cmdline, false)
		if err != nil {
			t.Fatalf("rule %q: %v", rule, err)
		}
		if n := c.Notes(); len(n) != 1 || !strings.Contains(n[0].Msg, `certificate "db"`) || !strings.Contains(c.Verdict.Event(), "authenticode=sha256:") {
			t.Errorf("rule %q: notes %v, event %q", rule, n, c.Verdict.Event())
		}
		if _, err := tr(rule).Verify(es[1], es[1].Cmdline, false, nil); err != nil {
			t.Errorf("rule %q: Verify: %v", rule, err)
		}
		c.Image.Close()
	}
	var refused *Refused
	for _, rule := range []trust.UKIRule{trust.UKIManifest, trust.UKIBoth} {
		if _, err := tr(rule).Check(es[0], es[0].Cmdline, false); !errors.As(err, &refused) || !errors.Is(err, verify.ErrNoManifest) {
			t.Errorf("rule %q without a manifest: %v, want refused", rule, err)
		}
	}
	// An add-on signed by a stranger fails the whole boot.
	os.WriteFile(addon, stranger.Sign(t, origAddon), 0o644)
	if _, err := tr("").Check(es[0], es[0].Cmdline, false); !errors.As(err, &refused) || !errors.Is(err, authenticode.ErrUntrusted) || !strings.Contains(err.Error(), "console.addon.efi") {
		t.Errorf("add-on by a stranger: %v", err)
	}
	sign(stranger)
	if _, err := tr("").Check(es[0], es[0].Cmdline, false); !errors.As(err, &refused) || !errors.Is(err, authenticode.ErrUntrusted) {
		t.Errorf("image by a stranger: %v", err)
	}
	sign(db)
	b, _ := os.ReadFile(file)
	b[bytes.Index(b, []byte("INITRD-NORMAL"))] ^= 1
	os.WriteFile(file, b, 0o644)
	if _, err := tr("").Check(es[0], es[0].Cmdline, false); !errors.As(err, &refused) || !errors.Is(err, authenticode.ErrBadSignature) {
		t.Errorf("changed after signing: %v", err)
	}
}
