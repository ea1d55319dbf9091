package coldpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
)

func write(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for n, d := range files {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(d), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// What Debian's update-grub writes for next_entry (00_header).
const grubCfg = `if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
fi
`

func TestDetect(t *testing.T) {
	for _, tt := range []struct {
		name   string
		files  map[string]string
		booted *handoff.Booted
		want   Loader
		dir    string
	}{
		{name: "warmboot started the chain", files: map[string]string{"boot/grub/grub.cfg": grubCfg}, booted: &handoff.Booted{Firmware: "warmboot"}, want: Warmboot},
		{name: "BIOS GRUB", files: map[string]string{"boot/grub/grub.cfg": grubCfg}, booted: &handoff.Booted{Firmware: "grub"}, want: GRUB, dir: "/boot/grub"},
		{name: "BIOS GRUB2 (RHEL)", files: map[string]string{"boot/grub2/grub.cfg": grubCfg}, want: GRUB, dir: "/boot/grub2"},
		{name: "BIOS, nothing known", files: map[string]string{"etc/fstab": ""}, want: Unknown},
		{name: "UEFI systemd-boot", files: map[string]string{"sys/firmware/efi/efivars/" + loaderInfo: "\x06\x00\x00\x00s"}, want: SystemdBoot},
		{name: "UEFI shim+GRUB", files: map[string]string{"sys/firmware/efi/efivars/x": "", "boot/efi/EFI/debian/shimx64.efi": "", "boot/efi/EFI/debian/grubx64.efi": "", "boot/grub/grub.cfg": grubCfg}, want: GRUB, dir: "/boot/grub"},
		{name: "UEFI removable GRUB", files: map[string]string{"sys/firmware/efi/efivars/x": "", "efi/EFI/BOOT/BOOTX64.EFI": "MZ... GNU GRUB  version %s", "boot/grub/grub.cfg": grubCfg}, want: GRUB, dir: "/boot/grub"},
		{name: "UEFI GRUB without a config", files: map[string]string{"sys/firmware/efi/efivars/x": "", "boot/efi/EFI/debian/grubx64.efi": ""}, want: Unknown},
		{name: "UEFI, no ESP mounted", files: map[string]string{"sys/firmware/efi/efivars/x": "", "boot/grub/grub.cfg": grubCfg}, want: Unknown},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			write(t, root, tt.files)
			p := Detect(root, tt.booted)
			if p.Loader != tt.want || p.Dir != tt.dir || p.How == "" {
				t.Errorf("Detect = %+v, want %q in %q", p, tt.want, tt.dir)
			}
		})
	}
}

// GRUB is made to boot the fallback once: the entry that boots what the
// fallback booted, by its menu path, set as grub-reboot sets it, and
// taken back by Disarm only while it is still as set.
func TestPlanSetDisarm(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"boot/grub/grub.cfg": grubCfg})
	src := entry.Source{Device: "vda1", File: "/boot/grub/grub.cfg"}
	m := choose.Menu{Entries: []entry.Entry{
		{ID: "simple", MenuPath: "simple", Format: entry.GRUB, Source: src},
		{ID: "adv-11", MenuPath: "adv>adv-11", Format: entry.GRUB, Source: src},
		{ID: "adv-10", MenuPath: "adv>adv-10", Format: entry.GRUB, Source: src},
	}}
	boots := func(i int) string { return []string{"B11", "B11", "B10"}[i] }
	p := Path{Loader: GRUB, Dir: "/boot/grub", How: "test"}
	// The running system was "simple" when it booted 6.1.0-10; simple
	// now boots -11: the fallback is the entry booting -10.
	o, err := Plan(root, p, m, state.Ref{ID: "simple", Boots: "B10"}, boots)
	if err != nil || o.Value != "adv>adv-10" || o.File != "/boot/grub/grubenv" || o.Var != "next_entry" {
		t.Fatalf("Plan = %+v, %v", o, err)
	}
	if _, err := os.Stat(filepath.Join(root, "boot/grub/grubenv")); err == nil {
		t.Fatal("Plan wrote grubenv")
	}
	if err := Set(root, o); err != nil {
		t.Fatal(err)
	}
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, err := grubenv.Map(blk); err != nil || vars["next_entry"] != "adv>adv-10" || len(blk) != grubenv.Size {
		t.Fatalf("grubenv after Set: %v, %v, %d bytes", vars, err, len(blk))
	}
	if said, err := Disarm(root, o); err != nil || !strings.Contains(said, "cleared") {
		t.Errorf("Disarm = %q, %v", said, err)
	}
	blk, _ = os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, _ := grubenv.Map(blk); vars["next_entry"] != "" || len(blk) != grubenv.Size {
		t.Errorf("grubenv after Disarm: %v", vars)
	}
	// Someone else's next_entry is left alone.
	Set(root, &state.OneShot{Loader: "grub", File: o.File, Var: "next_entry", Value: "theirs"})
	if said, err := Disarm(root, o); err != nil || !strings.Contains(said, "left as it is") {
		t.Errorf("Disarm of another value = %q, %v", said, err)
	}
	// Refusals: a config that does not read next_entry, no entry that
	// boots the fallback, a loader that cannot be set.
	if _, err := Plan(root, p, m, state.Ref{ID: "x", Boots: "B9"}, boots); !errors.Is(err, ErrNoOneShot) {
		t.Errorf("no entry boots the fallback: %v", err)
	}
	write(t, root, map[string]string{"boot/grub/grub.cfg": "menuentry x {\n}\n"})
	if _, err := Plan(root, p, m, state.Ref{ID: "adv-10", Boots: "B10"}, boots); !errors.Is(err, ErrNoOneShot) || !strings.Contains(err.Error(), "next_entry") {
		t.Errorf("config without next_entry: %v", err)
	}
	for _, l := range []Loader{Unknown, SystemdBoot} {
		if _, err := Plan(root, Path{Loader: l}, m, state.Ref{ID: "adv-10"}, boots); !errors.Is(err, ErrNoOneShot) {
			t.Errorf("%q: %v", l, err)
		}
	}
	if o, err := Plan(root, Path{Loader: Warmboot}, m, state.Ref{ID: "adv-10"}, boots); o != nil || err != nil {
		t.Errorf("warmboot: %+v, %v", o, err)
	}
}

// On UEFI the boot option the firmware started (BootCurrent) says which
// loader it is, before the ESP's files are looked at.
func TestDetectBootCurrent(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"boot/grub/grub.cfg": grubCfg, "boot/efi/EFI/systemd/systemd-bootx64.efi": ""})
	v := efivar.Vars{Dir: filepath.Join(root, efiVars)}
	os.MkdirAll(v.Dir, 0o755)
	file, _ := efivar.FileNode(`\EFI\debian\shimx64.efi`)
	opt := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: "debian", FilePath: efivar.DevicePath{efivar.GPTPartition(1, 2048, 1<<20, efivar.GUID{1}).Node(), file, efivar.EndNode()}}
	data, err := opt.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	v.Write("Boot0003", efivar.Global, efivar.AttrPersistent, data)
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{3, 0})
	p := Detect(root, nil)
	if p.Loader != GRUB || p.Dir != "/boot/grub" || !strings.Contains(p.How, `BootCurrent is Boot0003 "debian", \EFI\debian\shimx64.efi`) {
		t.Errorf("Detect = %+v", p)
	}
}

// Where the firmware starts systemd-boot, its LoaderEntryOneShot names the
// BLS entry that boots what the fallback boots, as bootctl set-oneshot
// writes it; Disarm deletes it only while it still holds that.
func TestSystemdBootOneShot(t *testing.T) {
	root := t.TempDir()
	v := efivar.Vars{Dir: filepath.Join(root, efiVars)}
	os.MkdirAll(v.Dir, 0o755)
	src := func(f string) entry.Source { return entry.Source{Device: "nvme0n1p1", File: "/loader/entries/" + f} }
	m := choose.Menu{Entries: []entry.Entry{
		{ID: "Fedora-6.2", Format: entry.BLS, Source: src("Fedora-6.2+3.conf"), TriesLeft: 3},
		{ID: "fedora-6.1", Format: entry.BLS, Source: src("fedora-6.1.conf"), TriesLeft: -1},
	}}
	boots := func(i int) string { return []string{"N", "O"}[i] }
	o, err := Plan(root, Path{Loader: SystemdBoot}, m, state.Ref{ID: "whatever", Boots: "O"}, boots)
	if err != nil || o.Value != "fedora-6.1.conf" || o.Var != "LoaderEntryOneShot" {
		t.Fatalf("Plan = %+v, %v", o, err)
	}
	if err := Set(root, o); err != nil {
		t.Fatal(err)
	}
	attrs, _, err := v.Read("LoaderEntryOneShot", efivar.Loader)
	if s, _ := v.ReadString("LoaderEntryOneShot", efivar.Loader); err != nil || s != "fedora-6.1.conf" || attrs != efivar.AttrPersistent {
		t.Fatalf("LoaderEntryOneShot = %q (attributes %#x), %v", s, attrs, err)
	}
	if said, err := Disarm(root, o); err != nil || !strings.Contains(said, "cleared") {
		t.Errorf("Disarm = %q, %v", said, err)
	}
	if _, err := v.ReadString("LoaderEntryOneShot", efivar.Loader); err == nil {
		t.Error("LoaderEntryOneShot still set")
	}
	if said, err := Disarm(root, o); err != nil || !strings.Contains(said, "used up") {
		t.Errorf("Disarm of a used one-shot = %q, %v", said, err)
	}
}

// A chain warmboot's own boot entry started keeps warmboot as its cold
// path until that entry is no longer first (warmboot efi-entry -remove):
// then what BootOrder starts first is. A chain that GRUB's entry started
// (GRUB starting warmboot) keeps its record.
func TestDetectReordered(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{"boot/grub/grub.cfg": grubCfg, "boot/efi/EFI/debian/shimx64.efi": "", "boot/efi/EFI/warmboot/warmboot.efi": ""})
	v := efivar.Vars{Dir: filepath.Join(root, efiVars)}
	os.MkdirAll(v.Dir, 0o755)
	add := func(num uint16, desc, file string) {
		fn, _ := efivar.FileNode(file)
		data, _ := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: desc, FilePath: efivar.DevicePath{fn, efivar.EndNode()}}.Marshal()
		v.Write(efivar.BootOptionName(num), efivar.Global, efivar.AttrPersistent, data)
	}
	add(1, "warmboot", `\EFI\warmboot\warmboot.efi`)
	add(3, "debian", `\EFI\debian\shimx64.efi`)
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{1, 0})
	v.Write("BootOrder", efivar.Global, efivar.AttrPersistent, []byte{1, 0, 3, 0})
	chain := &handoff.Booted{Firmware: "warmboot"}
	if p := Detect(root, chain); p.Loader != Warmboot {
		t.Errorf("warmboot's entry first: %+v", p)
	}
	efivar.Unregister(v, 1) // warmboot efi-entry -remove
	if p := Detect(root, chain); p.Loader != GRUB || p.Dir != "/boot/grub" || !strings.Contains(p.How, `BootOrder's first is Boot0003 "debian"`) {
		t.Errorf("warmboot's entry removed: %+v", p)
	}
	// GRUB's entry started the chain (GRUB starts warmboot): the record
	// stands, whatever is first.
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{3, 0})
	add(5, "other", `\EFI\debian\grubx64.efi`)
	v.Write("BootOrder", efivar.Global, efivar.AttrPersistent, []byte{5, 0, 3, 0})
	if p := Detect(root, chain); p.Loader != Warmboot {
		t.Errorf("GRUB started warmboot: %+v", p)
	}
}
