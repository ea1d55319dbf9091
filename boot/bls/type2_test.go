package bls

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/warmboot/warmboot/boot/uki/ukitest"
)

func ukiFile(osrel, cmdline string, extra ...ukitest.Section) *fstest.MapFile {
	secs := []ukitest.Section{{Name: ".osrel", Data: []byte(osrel)}, {Name: ".linux", Data: []byte("K")}}
	if cmdline != "" {
		secs = append(secs, ukitest.Section{Name: ".cmdline", Data: []byte(cmdline)})
	}
	return &fstest.MapFile{Data: ukitest.Build(append(secs, extra...)...)}
}

// Type #2 entries are listed beside Type #1 ones and sorted with them;
// "auto-" and hidden files are skipped; the boot counter is in the id
// only as tries; add-ons come from the global directory, then the
// image's own (named without the counter); a broken image or add-on is
// a warning naming it.
func TestType2(t *testing.T) {
	fsys := fstest.MapFS{
		"loader/loader.conf":                          {Data: []byte("default arch*.efi\n")},
		"loader/entries/fedora.conf":                  {Data: []byte("title Fedora\nsort-key fedora\nlinux /vmlinuz\n")},
		"EFI/Linux/arch-6.12+2-1.efi":                 ukiFile("ID=arch\nNAME=Arch Linux\nVERSION_ID=rolling\n", "root=LABEL=arch"),
		"EFI/Linux/arch-6.12.efi.extra.d/z.addon.efi": {Data: ukitest.Build(ukitest.Section{Name: ".cmdline", Data: []byte("zz=1")})},
		"EFI/Linux/arch-6.12.efi.extra.d/a.addon.efi": {Data: ukitest.Build(ukitest.Section{Name: ".cmdline", Data: []byte("aa=1")})},
		"loader/addons/g.addon.efi":                   {Data: ukitest.Build(ukitest.Section{Name: ".cmdline", Data: []byte("global=1")})},
		"EFI/Linux/auto-windows.efi":                  ukiFile("ID=x\n", ""),
		"EFI/Linux/.hidden.efi":                       ukiFile("ID=x\n", ""),
		"EFI/Linux/broken.efi":                        {Data: []byte("MZ not really")},
		"EFI/Linux/noname.efi":                        ukiFile("VERSION_ID=1\n", ""),
		"EFI/Linux/zz.efi":                            ukiFile("ID=zz\n", ""),
		"EFI/Linux/zz.efi.extra.d/k.addon.efi":        {Data: ukitest.Build(ukitest.Section{Name: ".linux", Data: []byte("K")})},
	}
	cfg, err := Parse(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range cfg.Entries {
		got = append(got, e.ID+"|"+e.Label+"|"+e.Cmdline)
	}
	want := []string{
		"arch-6.12.efi|Arch Linux rolling|root=LABEL=arch global=1 aa=1 zz=1",
		"fedora|Fedora|",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if e := cfg.Entries[0]; e.TriesLeft != 2 || e.UKI == nil || len(e.UKI.Addons) != 3 || e.UKI.Addons[0] != "/loader/addons/g.addon.efi" {
		t.Errorf("arch entry = %+v (uki %+v)", e, e.UKI)
	}
	if cfg.Default != 0 {
		t.Errorf("default = %d, want the loader.conf glob's match", cfg.Default)
	}
	var warns []string
	for _, w := range cfg.Warnings {
		warns = append(warns, w.String())
	}
	all := strings.Join(warns, "\n")
	for _, w := range []string{"/EFI/Linux/broken.efi: ", "/EFI/Linux/noname.efi: not a valid UKI: no .osrel section with PRETTY_NAME", "/EFI/Linux/zz.efi: add-on /EFI/Linux/zz.efi.extra.d/k.addon.efi: it carries a kernel"} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
	if strings.Contains(all, "auto-") || strings.Contains(all, "hidden") || len(warns) != 3 {
		t.Errorf("warnings:\n%s", all)
	}
	if id := SystemdID(cfg.Entries[0]); id != "arch-6.12.efi" {
		t.Errorf("SystemdID = %q", id)
	}
}
