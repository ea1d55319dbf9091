package measure

import (
	"bytes"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/eventlog"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/tpm"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/internal/testtool"
)

// Regression test from review; the bug it guarded against: warmboot stages an add-on's .ucode (and .initrd) into the
// initramfs "as sd-stub combines them", but measures neither. sd-stub
// (257, stub: Add support for .ucode EFI addons, systemd#32463; .initrd
// add-ons later) extends PCR 12 with an EV_EVENT_TAG event per ucode
// add-on (tag 0xdac08e1a) and per initrd add-on (0x49dffe0f), digest of
// the section's contents. Here PCR 12 is the same with or without the
// add-on: code reaching the initramfs through an add-on leaves PCRs 11
// and 12 exactly as a policy predicted for the image alone.
func TestReviewUKIAddonUcodeInitrdInPCR12(t *testing.T) {
	dev := swtpm(t)
	m, err := New(dev)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ucode, initrd := []byte("ADDON-UCODE"), []byte("ADDON-INITRD")
	files := map[string][]byte{
		"EFI/Linux/a.efi": ukitest.Build(
			ukitest.Section{Name: ".osrel", Data: []byte("ID=debian\n")},
			ukitest.Section{Name: ".linux", Data: testtool.BzImage(8192)},
			ukitest.Section{Name: ".initrd", Data: []byte("INITRD")},
		),
		"EFI/Linux/a.efi.extra.d/x.addon.efi": ukitest.Build(
			ukitest.Section{Name: ".ucode", Data: ucode},
			ukitest.Section{Name: ".initrd", Data: initrd},
		),
	}
	for n, b := range files {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(n)), 0o755)
		os.WriteFile(filepath.Join(dir, n), b, 0o644)
	}
	cfg, err := bls.Parse(os.DirFS(dir), nil)
	if err != nil || len(cfg.Entries) != 1 {
		t.Fatalf("Parse = %+v, %v", cfg, err)
	}
	e := cfg.Entries[0]
	e.Root = dir
	im, err := kexec.Stage(e, e.Cmdline)
	if err != nil {
		t.Fatal(err)
	}
	defer im.Close()
	staged := make([]byte, im.InitrdSize)
	im.Initrd.ReadAt(staged, 0)
	if !bytes.Contains(staged, ucode) || !bytes.Contains(staged, initrd) {
		t.Fatalf("add-on sections not staged: %q", staged)
	}
	if _, err := m.Image(im, "warmboot_trust: policy=off"); err != nil {
		t.Fatal(err)
	}
	l, err := eventlog.Parse(m.Log())
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string][]byte{".ucode": ucode, ".initrd": initrd} {
		sum := sha256.Sum256(data)
		found := false
		for _, ev := range l.Events {
			if ev.PCR == PCRKernelConfig && bytes.Equal(ev.Digests[tpm.SHA256], sum[:]) {
				found = true
			}
		}
		if !found {
			t.Errorf("the add-on's %s is in the initramfs but not measured into PCR 12 (sd-stub: EV_EVENT_TAG)", name)
		}
	}
}
