package running

import (
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/internal/testtool"
)

// kernel is a bzImage whose setup header names version v, as a real
// kernel's does (kernel_version at 0x20e, the string at it + 0x200).
func kernel(v string) []byte {
	b := testtool.BzImage(8192)
	binary.LittleEndian.PutUint16(b[0x20e:], 0x300)
	copy(b[0x500:], v+"\x00")
	return b
}

const (
	v10 = "6.1.0-10-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.38-1 (2023-07-14)"
	v11 = "6.1.0-11-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.38-2 (2023-07-27)"
)

// system is a root running 6.1.0-10 as GRUB booted it, and the menu
// update-grub writes after 6.1.0-11 was installed: "simple" boots -11,
// the advanced entries one each, and a recovery entry -10.
func system(t *testing.T, cmdline string) (string, choose.Menu) {
	root := t.TempDir()
	files := map[string][]byte{
		"proc/version":             []byte("Linux version 6.1.0-10-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.38-1 (2023-07-14)\n"),
		"proc/cmdline":             []byte(cmdline + "\n"),
		"boot/vmlinuz-6.1.0-10":    kernel(v10),
		"boot/vmlinuz-6.1.0-11":    kernel(v11),
		"boot/initrd.img-6.1.0-10": []byte("initrd10"),
		"boot/initrd.img-6.1.0-11": []byte("initrd11"),
	}
	for n, d := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(n)), 0o755)
		if err := os.WriteFile(filepath.Join(root, n), d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := func(id, rel, cmd string) entry.Entry {
		return entry.Entry{ID: id, Format: entry.GRUB, Kernel: "/boot/vmlinuz-" + rel, Initrds: []string{"/boot/initrd.img-" + rel}, Cmdline: cmd, Root: root, Source: entry.Source{Device: "vda1", File: "/boot/grub/grub.cfg"}, TriesLeft: -1}
	}
	return root, choose.Menu{Entries: []entry.Entry{
		e("simple", "6.1.0-11", "root=UUID=x ro quiet"),
		e("adv-11", "6.1.0-11", "root=UUID=x ro quiet"),
		e("adv-10", "6.1.0-10", "root=UUID=x ro quiet"),
		e("rec-10", "6.1.0-10", "root=UUID=x ro single"),
	}}
}

func TestIdentify(t *testing.T) {
	for _, tt := range []struct{ cmdline, want string }{
		{"BOOT_IMAGE=/boot/vmlinuz-6.1.0-10 root=UUID=x ro quiet", "adv-10"},
		{"BOOT_IMAGE=(hd0,gpt1)/boot/vmlinuz-6.1.0-10 root=UUID=x ro single", "rec-10"},
		// Booted by warmboot (no BOOT_IMAGE, its trial's parameters).
		{"root=UUID=x ro quiet panic=10 watchdog.open_timeout=300", "adv-10"},
	} {
		root, m := system(t, tt.cmdline)
		r, how, err := Identify(root, m, nil)
		if err != nil || r.ID != tt.want || len(r.Boots) != 64 || !strings.Contains(how.String(), "6.1.0-10-amd64") || how.By != ByKernel || !how.Cmdline {
			t.Errorf("%q: Identify = %+v, %+v, %v; want %s by its kernel and command line", tt.cmdline, r, how, err, tt.want)
		}
	}
	// A parameter added since this boot: the running kernel's entries,
	// none with the running command line (of the equally good, the
	// last); how says so, and swap does not take it for what runs.
	root, m := system(t, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-10 root=UUID=x ro quiet wbtest=1")
	if r, how, err := Identify(root, m, nil); err != nil || r.ID != "rec-10" || how.By != ByKernel || how.Cmdline || strings.Contains(how.String(), "command line") {
		t.Errorf("another command line: Identify = %+v, %+v, %v; want rec-10 by its kernel alone", r, how, err)
	}
	// No entry boots the running kernel: said, not guessed.
	root, m = system(t, "root=UUID=x")
	m.Entries = m.Entries[:2]
	if _, _, err := Identify(root, m, nil); !errors.Is(err, ErrUnknown) {
		t.Errorf("no entry of the running kernel: %v", err)
	}
	// booted.json, when warmboot booted the system, says it.
	os.MkdirAll(filepath.Join(root, "run/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":2,"entry":"adv-11","by":"warmboot","boots":"abc"}`), 0o644)
	if r, how, err := Identify(root, m, nil); err != nil || r.ID != "adv-11" || r.Boots != "abc" || how.By != ByBooted {
		t.Errorf("with booted.json: %+v, %+v, %v", r, how, err)
	}
}

func TestVersion(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{"good": kernel(v10), "short": []byte("MZ"), "nohdr": make([]byte, 4096), "nostring": testtool.BzImage(4096)} {
		os.WriteFile(filepath.Join(dir, name), data, 0o644)
	}
	if v, err := Version(filepath.Join(dir, "good")); err != nil || v != v10 {
		t.Errorf("Version = %q, %v", v, err)
	}
	for _, bad := range []string{"short", "nohdr", "nostring", "missing"} {
		if v, err := Version(filepath.Join(dir, bad)); err == nil {
			t.Errorf("%s: Version = %q, want an error", bad, v)
		}
	}
}

func FuzzParseVersion(f *testing.F) {
	f.Add(kernel(v10)[:0x600])
	f.Add(testtool.BzImage(4096))
	f.Add([]byte("MZ"))
	f.Fuzz(func(t *testing.T, head []byte) {
		v, err := ParseVersion(head)
		if err == nil && (v == "" || len(v) > 256 || strings.ContainsRune(v, 0)) {
			t.Errorf("ParseVersion = %q", v)
		}
	})
}

// stubSystem is system running with cmdline, whose firmware started it
// from the UEFI boot entry Boot0003 "Debian 6.1.0-10": the 6.1.0-10
// kernel as an EFI stub on the ESP, with the command line stubCmdline.
func stubSystem(t *testing.T, cmdline string) (string, choose.Menu) {
	root, m := system(t, cmdline)
	stub := kernel(v10)
	copy(stub, "MZ")
	os.MkdirAll(filepath.Join(root, "boot/efi/EFI/debian"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/efi/EFI/debian/vmlinuz.efi"), stub, 0o644)
	os.WriteFile(filepath.Join(root, "boot/efi/EFI/debian/initrd.img"), []byte("initrd10"), 0o644)
	v := efivar.Vars{Dir: filepath.Join(root, "sys/firmware/efi/efivars")}
	os.MkdirAll(v.Dir, 0o755)
	fn, _ := efivar.FileNode(`\EFI\debian\vmlinuz.efi`)
	opts, _ := efivar.EncodeUTF16(stubCmdline)
	data, _ := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: "Debian 6.1.0-10", OptionalData: opts,
		FilePath: efivar.DevicePath{fn, efivar.EndNode()}}.Marshal()
	v.Write("Boot0003", efivar.Global, efivar.AttrPersistent, data)
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{3, 0})
	return root, m
}

const stubCmdline = `initrd=\EFI\debian\initrd.img root=UUID=x ro quiet`

// A kernel the firmware started itself (a UEFI boot entry with the EFI
// stub's command line): the running entry is that boot entry, known by
// what it boots, when its kernel and command line are the running ones;
// else the menu's entry.
func TestIdentifyBootCurrent(t *testing.T) {
	root, m := stubSystem(t, stubCmdline)
	r, how, err := Identify(root, m, nil)
	if err != nil || r.ID != "Boot0003" || len(r.Boots) != 64 || !strings.Contains(how.String(), `BootCurrent is Boot0003 "Debian 6.1.0-10"`) || how.By != ByFirmware || !how.Cmdline {
		t.Fatalf("Identify = %+v, %q, %v", r, how, err)
	}
	// Another command line runs than the entry's: not that entry.
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("root=UUID=x ro single\n"), 0o644)
	if r, _, err := Identify(root, m, nil); err != nil || r.ID != "rec-10" {
		t.Errorf("with another command line: %+v, %v", r, err)
	}
}

// BootCurrent outlives a kexec: a kernel kexec'd since (the same build,
// from /boot, with a trial's panic=N, no initrd= of the stub's) is not
// the boot entry the firmware started.
func TestIdentifyBootCurrentAfterKexec(t *testing.T) {
	root, m := stubSystem(t, "root=UUID=x ro quiet panic=10 watchdog.open_timeout=300")
	if r, how, err := Identify(root, m, nil); err != nil || r.ID != "adv-10" {
		t.Errorf("Identify after a kexec = %+v (%s), %v; want adv-10, the entry kexec'd", r, how, err)
	}
}
