package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/authenticode/actest"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/internal/testtool"
)

// warmsign signs a unified kernel image as an entry (by its id, profile
// and add-ons included) and as a kernel named on the command line, and
// verify says what the bootloader would: a changed add-on fails.
func TestSignUKI(t *testing.T) {
	root, keys := t.TempDir(), t.TempDir()
	img := ukitest.Build(
		ukitest.Section{Name: ".osrel", Data: []byte("ID=debian\nPRETTY_NAME=\"Debian\"\n")},
		ukitest.Section{Name: ".linux", Data: testtool.BzImage(4096)},
		ukitest.Section{Name: ".initrd", Data: []byte("initrd")},
		ukitest.Section{Name: ".cmdline", Data: []byte("root=/dev/vda2 quiet")},
		ukitest.Section{Name: ".profile", Data: []byte("ID=main")},
		ukitest.Section{Name: ".profile", Data: []byte("ID=rescue\nTITLE=Rescue")},
		ukitest.Section{Name: ".cmdline", Data: []byte("root=/dev/vda2 rescue")},
	)
	write(t, filepath.Join(root, "EFI/Linux/debian.efi"), string(img))
	addon := filepath.Join(root, "loader/addons/c.addon.efi")
	write(t, addon, string(ukitest.Build(ukitest.Section{Name: ".cmdline", Data: []byte("console=ttyS0")})))
	warmsign(t, 0, "keygen", "-o", filepath.Join(keys, "k"))
	out := warmsign(t, 0, "sign", "-key", filepath.Join(keys, "k.sec"), "-root", root, "-all")
	if !strings.Contains(out, "bls-debian.efi.manifest") || !strings.Contains(out, "bls-debian.efi_rescue.manifest") {
		t.Errorf("sign -all:\n%s", out)
	}
	m, err := os.ReadFile(filepath.Join(root, "warmboot/bls-debian.efi_rescue.manifest"))
	if err != nil || !strings.Contains(string(m), "kernel sha256:") || !strings.Contains(string(m), " /EFI/Linux/debian.efi\naddon sha256:") ||
		!strings.Contains(string(m), "\ncmdline root=/dev/vda2 rescue console=ttyS0\n") {
		t.Errorf("rescue manifest: %s (%v)", m, err)
	}
	warmsign(t, 0, "verify", "-keys", filepath.Join(keys, "k.pub"), "-root", root)
	write(t, addon, string(ukitest.Build(ukitest.Section{Name: ".cmdline", Data: []byte("console=ttyS1")})))
	if out := warmsign(t, 1, "verify", "-keys", filepath.Join(keys, "k.pub"), "-root", root); !strings.Contains(out, "add-on /loader/addons/c.addon.efi has SHA-256") {
		t.Errorf("verify after the add-on changed:\n%s", out)
	}
	// A UKI named as a kernel: its own command line, profile 0, no
	// add-ons; an initrd beside it is refused.
	out = warmsign(t, 0, "manifest", "-root", root, "-kernel", "/EFI/Linux/debian.efi", "-o", "explicit")
	if m, _ := os.ReadFile(filepath.Join(root, "warmboot/explicit.manifest")); !strings.Contains(string(m), "\ncmdline root=/dev/vda2 quiet\n") || strings.Contains(string(m), "addon") {
		t.Errorf("manifest -kernel X.efi: %s\n%s", out, m)
	}
	if out := warmsign(t, 1, "manifest", "-root", root, "-kernel", "/EFI/Linux/debian.efi", "-initrd", "/x"); !strings.Contains(out, "carries its initrd") {
		t.Errorf("manifest -kernel X.efi -initrd: %s", out)
	}
}

// verify -keys takes certificates (Authenticode) as the bootloader's
// trust does, and a broken image is a warning naming it, not silence.
func TestVerifyUKIAuthenticode(t *testing.T) {
	root, dir := t.TempDir(), t.TempDir()
	db := actest.New(t, dir, "db", nil, false)
	stranger := actest.New(t, dir, "stranger", nil, false)
	img := ukitest.Build(
		ukitest.Section{Name: ".osrel", Data: []byte("ID=debian\n")},
		ukitest.Section{Name: ".linux", Data: testtool.BzImage(4096)},
		ukitest.Section{Name: ".cmdline", Data: []byte("quiet")},
	)
	write(t, filepath.Join(root, "EFI/Linux/a.efi"), string(db.Sign(t, img)))
	write(t, filepath.Join(root, "EFI/Linux/broken.efi"), "MZ, and nothing else")
	out := warmsign(t, 0, "verify", "-keys", db.CertFile, "-root", root)
	if !strings.Contains(out, `certificate "db"`) || !strings.Contains(out, "warning: /EFI/Linux/broken.efi: not a valid UKI") {
		t.Errorf("verify with the signing certificate:\n%s", out)
	}
	if out := warmsign(t, 1, "verify", "-keys", stranger.CertFile, "-root", root); !strings.Contains(out, "signed by a certificate this image does not trust") {
		t.Errorf("verify with another certificate:\n%s", out)
	}
}
