package bls

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/internal/testtool"
)

// Regression test from review; the bug it guarded against: Explicit treats every file starting with "MZ" as a UKI, but a
// distribution's bzImage (CONFIG_EFI_STUB) starts with "MZ" too. A plain
// kernel named on a command line (warmswap -kernel, warmsign -kernel, the
// loader's handoff) must be returned unchanged, not refused.
func TestReviewUKIExplicitEFIStubBzImage(t *testing.T) {
	root := t.TempDir()
	k := testtool.BzImage(8192)
	k[0], k[1] = 'M', 'Z'
	os.WriteFile(filepath.Join(root, "vmlinuz"), k, 0o644)
	os.WriteFile(filepath.Join(root, "initrd.img"), []byte("initrd"), 0o644)
	for _, initrds := range [][]string{{"/initrd.img"}, nil} {
		e := entry.NewExplicit("kernel", "kernel", root, entry.Source{File: "(test)"}, "/vmlinuz", initrds, "root=/dev/vda2")
		got, err := Explicit(e, true)
		if err != nil || got.UKI != nil {
			t.Errorf("Explicit(EFI-stub bzImage, initrds %v) = UKI %+v, %v; want the kernel unchanged", initrds, got.UKI, err)
		}
	}
}

// Regression test from review; the bug it guarded against: Type #2 listing accepts "*.EFI" (it lower-cases the name), but
// ParseCounter/suffix only know ".efi", so readType2 builds the id as
// base+ext = "FOO.EFI"+".EFI": the id is "FOO.EFI.EFI", its add-ons are
// looked for in FOO.EFI.EFI.extra.d (sd-stub: FOO.EFI.extra.d), and a
// counter ("FOO+3.EFI") is never counted. The image boots without its
// add-ons' command line.
func TestReviewUKIUpperCaseEFI(t *testing.T) {
	root := t.TempDir()
	files := map[string][]byte{
		"EFI/Linux/FOO.EFI":                           ukitestBuild(),
		"EFI/Linux/FOO.EFI.extra.d/console.addon.efi": ukitestAddon("console=ttyS0"),
	}
	for n, b := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(n)), 0o755)
		os.WriteFile(filepath.Join(root, n), b, 0o644)
	}
	cfg, err := Parse(os.DirFS(root), nil)
	if err != nil || len(cfg.Entries) != 1 {
		t.Fatalf("Parse = %+v, %v", cfg, err)
	}
	e := cfg.Entries[0]
	if e.ID != "FOO.EFI" || len(e.UKI.Addons) != 1 {
		t.Errorf("FOO.EFI listed as id %q, add-ons %v; want FOO.EFI and its add-on", e.ID, e.UKI.Addons)
	}
}

func ukitestBuild() []byte {
	return ukitest.Build(ukitest.Section{Name: ".osrel", Data: []byte("ID=debian\n")}, ukitest.Section{Name: ".linux", Data: testtool.BzImage(8192)})
}

func ukitestAddon(cmdline string) []byte {
	return ukitest.Build(ukitest.Section{Name: ".cmdline", Data: []byte(cmdline)})
}
