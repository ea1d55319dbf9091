package prepare

import (
	"crypto/x509"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/authenticode/actest"
	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/boot/verify"
	"github.com/warmboot/warmboot/internal/testtool"
)

// signManifests signs each entry of es as warmsign does (the image, its
// add-ons, the command line they compose), the manifest named after id.
func signManifests(t *testing.T, dir string, es []entry.Entry) trust.Trust {
	t.Helper()
	pub, priv, _ := trust.Generate()
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
		name := strings.ReplaceAll(e.ID, "@", "_") + ".manifest"
		if err := os.WriteFile(filepath.Join(dir, "warmboot", name), m.Sign(priv), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, Keys: []trust.Key{{Public: pub}}}
}

// Regression test from review (boot counting); the bug it guarded against: a Type #2 entry's counter is in the UKI's own
// file name, and boot counting renames that file (debian-6.12+3.efi ->
// debian-6.12+2-1.efi when tried, -> debian-6.12.efi when blessed). The
// manifest names the image by its path, so after the first counted boot a
// manifest-signed UKI (UKI=manifest, both, or either without certificates)
// has no manifest any more and enforce refuses it, fallback included.
func TestReviewUKIManifestAfterBootCounting(t *testing.T) {
	dir, _ := ukiRoot(t)
	es := listUKIs(t, dir)
	tr := signManifests(t, dir, es)
	p := &Pipeline{Trust: tr}
	if c, err := p.Check(es[0], es[0].Cmdline, false); err != nil {
		t.Fatalf("before counting: %v", err)
	} else {
		c.Image.Close()
	}
	from := "debian-6.12+3.efi"
	tried, _ := bls.Attempted(from)
	for _, to := range []string{tried, bls.Blessed(tried)} {
		if err := os.Rename(filepath.Join(dir, "EFI/Linux", from), filepath.Join(dir, "EFI/Linux", to)); err != nil {
			t.Fatal(err)
		}
		from = to
		es := listUKIs(t, dir)
		c, err := p.Check(es[0], es[0].Cmdline, false)
		if err != nil {
			t.Errorf("after boot counting renamed the image to %s (bytes unchanged): %v", path.Base(es[0].Kernel), err)
			continue
		}
		c.Image.Close()
	}
}

// Regression test from review (TOCTTOU); the bug it guarded against: whether an image carries its own .cmdline, which
// decides the "cannot be edited under enforce" refusal and the
// Authenticode command-line check, is taken from the listing
// (entry.UKI.EmbeddedCmdline), not from the bytes staged and verified.
// Listed: x.efi without .cmdline. Replaced before staging by a signed
// x.efi with .cmdline. The user's edit (allowed for the listed image under
// EDITS=unsigned) is then booted on an image whose command line enforce
// says cannot be edited; PCR 11 is the image's, exactly as under sd-stub.
func TestReviewUKIEmbeddedCmdlineFromListing(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "EFI/Linux"), 0o755)
	file := filepath.Join(dir, "EFI/Linux/x.efi")
	osrel := usec(".osrel", []byte("ID=debian\nPRETTY_NAME=Debian\n"))
	kernel := usec(".linux", testtool.BzImage(8192))
	// B, the image that is signed: it locks its command line.
	os.WriteFile(file, ukitest.Build(osrel, usec(".cmdline", []byte("root=/dev/vda2 ro lockdown=confidentiality")), kernel), 0o644)
	tr := signManifests(t, dir, listUKIs(t, dir))
	tr.Edits = trust.EditsUnsigned
	p := &Pipeline{Trust: tr}
	// Control: listed as it is, an edit is refused under enforce.
	if c, err := p.Check(listUKIs(t, dir)[0], "init=/bin/sh", true); err == nil {
		c.Image.Close()
		t.Fatalf("control: edit of an image with .cmdline accepted")
	}
	// A: listed without .cmdline ...
	b, _ := os.ReadFile(file)
	os.WriteFile(file, ukitest.Build(osrel, kernel), 0o644)
	es := listUKIs(t, dir)
	// ... and B back in place before the entry is staged.
	os.WriteFile(file, b, 0o644)
	c, err := p.Check(es[0], "init=/bin/sh", true)
	if err == nil {
		defer c.Image.Close()
		t.Errorf("staged image has .cmdline, yet the edit %q was accepted under enforce (booted cmdline %q, verdict %q)",
			"init=/bin/sh", c.Image.Cmdline, c.Verdict.Event())
	}
}

// Regression test from review; the bug it guarded against: under policy warn with EDITS=refuse (the menu allows edits
// under warn), an edited command line on an Authenticode-signed UKI with
// its own .cmdline is reported, and measured into PCR 8, as
// "verified ... cmdline=signed", though the command line booted is the
// user's. checkUKI skips the comparison whenever EmbeddedCmdline is set.
// (A manifest-signed image is correctly reported as failed.)
func TestReviewUKIWarnEditReportedSigned(t *testing.T) {
	dir, _ := ukiRoot(t)
	db := actest.New(t, t.TempDir(), "db", nil, false)
	for _, f := range []string{"EFI/Linux/debian-6.12+3.efi", "loader/addons/console.addon.efi"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(dir, f), db.Sign(t, b), 0o644)
	}
	es := listUKIs(t, dir)
	p := &Pipeline{Trust: trust.Trust{Policy: trust.Warn, Edits: trust.EditsRefuse, Certs: []*x509.Certificate{db.Cert}}}
	c, err := p.Check(es[0], "init=/bin/sh", true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Image.Close()
	if c.Image.Cmdline != "init=/bin/sh" {
		t.Fatalf("booted cmdline %q", c.Image.Cmdline)
	}
	if r := c.Verdict.Result; r != nil && r.CmdlineSigned {
		t.Errorf("edited, unsigned command line %q recorded as signed: %q", c.Image.Cmdline, c.Verdict.Event())
	}
}

// Regression test from review; the bug it guarded against: a global add-on whose .uname names another kernel is, for
// sd-stub, skipped (".uname mismatch between %ls and UKI, ignoring"):
// that is what .uname in an add-on is for. warmboot lists it for every
// UKI, adds its command line to the listed one, and then refuses to
// stage every UKI with a different .uname: one add-on for one kernel
// makes all other kernels, fallbacks included, unbootable.
func TestReviewUKIAddonForAnotherKernel(t *testing.T) {
	dir, _ := ukiRoot(t) // the image's .uname is 6.12.9-amd64
	os.WriteFile(filepath.Join(dir, "loader/addons/fix-6.13.addon.efi"),
		ukitest.Build(usec(".uname", []byte("6.13.0-amd64")), usec(".cmdline", []byte("fix613=1"))), 0o644)
	es := listUKIs(t, dir)
	c, err := (&Pipeline{Trust: trust.Trust{Policy: trust.Off}}).Check(es[0], es[0].Cmdline, false)
	if err != nil {
		t.Fatalf("an add-on for 6.13 stops the 6.12.9 image from booting: %v", err)
	}
	defer c.Image.Close()
	if strings.Contains(c.Image.Cmdline, "fix613") {
		t.Errorf("cmdline %q carries the 6.13 add-on's", c.Image.Cmdline)
	}
}
