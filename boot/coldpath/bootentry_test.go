package coldpath

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/internal/testtool"
)

// stubKernel is an EFI-stub bzImage: a PE image ("MZ") with the boot
// protocol's setup header.
func stubKernel(tag string) string {
	b := testtool.BzImage(8192)
	copy(b, "MZ")
	copy(b[0x1000:], tag)
	return string(b)
}

// firmwareEntries is a machine whose firmware starts kernels itself, as
// efibootmgr -l/-u registers them: Boot0003 the old kernel (started at
// this power-on), Boot0004 the new one, first in BootOrder (as a kernel
// install hook puts it), Boot0005 another loader, Boot0006 a file that
// is no kernel.
func firmwareEntries(t *testing.T) (string, efivar.Vars) {
	t.Helper()
	root := t.TempDir()
	write(t, root, map[string]string{
		"boot/efi/EFI/debian/vmlinuz-old.efi": stubKernel("old"),
		"boot/efi/EFI/debian/initrd-old.img":  "initrd old",
		"boot/efi/EFI/debian/vmlinuz-new.efi": stubKernel("new"),
		"boot/efi/EFI/debian/initrd-new.img":  "initrd new",
		"boot/efi/EFI/refind/refind_x64.efi":  "MZ not a kernel",
	})
	v := efivar.Vars{Dir: filepath.Join(root, efiVars)}
	os.MkdirAll(v.Dir, 0o755)
	add := func(num uint16, desc, file, opts string) {
		fn, _ := efivar.FileNode(file)
		o := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: desc,
			FilePath: efivar.DevicePath{efivar.GPTPartition(1, 2048, 1<<20, efivar.GUID{7}).Node(), fn, efivar.EndNode()}}
		if opts != "" {
			o.OptionalData, _ = efivar.EncodeUTF16(opts)
		}
		data, err := o.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Write(efivar.BootOptionName(num), efivar.Global, efivar.AttrPersistent, data); err != nil {
			t.Fatal(err)
		}
	}
	add(3, "Debian old", `\EFI\debian\vmlinuz-old.efi`, `initrd=\EFI\debian\initrd-old.img root=UUID=x ro console=ttyS0`)
	add(4, "Debian new", `\EFI\debian\vmlinuz-new.efi`, `root=UUID=x ro console=ttyS0 initrd=\EFI\debian\initrd-new.img`)
	add(5, "rEFInd", `\EFI\refind\refind_x64.efi`, "")
	v.Write("BootOrder", efivar.Global, efivar.AttrPersistent, []byte{4, 0, 3, 0, 5, 0})
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{3, 0})
	return root, v
}

// A firmware that starts the kernel itself: Detect says so by
// BootCurrent, BootEntry reads the entry as the EFI stub does, and the
// fallback is made to boot once by BootNext, as "efibootmgr -n" sets it,
// taken back only while it is as set.
func TestFirmwareEntryBootNext(t *testing.T) {
	root, v := firmwareEntries(t)
	p := Detect(root, nil)
	if p.Loader != FirmwareEntry || p.Entry != 3 || !strings.Contains(p.How, `BootCurrent is Boot0003 "Debian old"`) || !strings.Contains(p.How, "a Linux kernel the firmware starts itself") {
		t.Fatalf("Detect = %+v", p)
	}
	old, err := BootEntry(root, 3)
	if err != nil || old.Kernel != "/EFI/debian/vmlinuz-old.efi" || len(old.Initrds) != 1 || old.Initrds[0] != "/EFI/debian/initrd-old.img" ||
		old.Cmdline != "root=UUID=x ro console=ttyS0" || old.ID != "Boot0003" || old.Label != "Debian old" {
		t.Fatalf("BootEntry(3) = %+v, %v", old, err)
	}
	ref, err := RefOf(old.Entry, nil)
	if err != nil || len(ref.Boots) != 64 {
		t.Fatalf("RefOf = %+v, %v", ref, err)
	}
	o, err := Plan(root, p, choose.Menu{}, ref, nil)
	if err != nil || o.Loader != string(FirmwareEntry) || o.Var != "BootNext" || o.Value != "Boot0003" {
		t.Fatalf("Plan = %+v, %v", o, err)
	}
	if _, err := efivar.BootNext(v); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Plan set BootNext: %v", err)
	}
	if err := Set(root, o); err != nil {
		t.Fatal(err)
	}
	attrs, data, err := v.Read("BootNext", efivar.Global)
	if err != nil || attrs != efivar.AttrPersistent || string(data) != "\x03\x00" {
		t.Fatalf("BootNext after Set: %#x %q, %v", attrs, data, err)
	}
	if said, err := Disarm(root, o); err != nil || said != "cleared UEFI BootNext=Boot0003" {
		t.Errorf("Disarm = %q, %v", said, err)
	}
	if said, err := Disarm(root, o); err != nil || !strings.Contains(said, "used up") {
		t.Errorf("Disarm of a used BootNext = %q, %v", said, err)
	}
	efivar.SetBootNext(v, 5)
	if said, err := Disarm(root, o); err != nil || !strings.Contains(said, "BootNext is Boot0005, set by someone else") {
		t.Errorf("Disarm of another BootNext = %q, %v", said, err)
	}
	if n, err := efivar.BootNext(v); err != nil || n != 5 {
		t.Errorf("someone else's BootNext: %d, %v", n, err)
	}

	// A fallback the firmware did not start this time, but an entry of
	// BootOrder boots: that entry.
	nw, _ := BootEntry(root, 4)
	nref, _ := RefOf(nw.Entry, nil)
	if o, err := Plan(root, p, choose.Menu{}, nref, nil); err != nil || o.Value != "Boot0004" {
		t.Errorf("Plan of Boot0004's contents = %+v, %v", o, err)
	}
	// Known by what it boots: a changed initrd is another boot.
	write(t, root, map[string]string{"boot/efi/EFI/debian/initrd-old.img": "rebuilt"})
	if _, err := Plan(root, p, choose.Menu{}, ref, nil); !errors.Is(err, ErrNoOneShot) || !strings.Contains(err.Error(), "no UEFI boot entry boots what") {
		t.Errorf("Plan with no entry booting the fallback: %v", err)
	}
	// Entries that are no kernel: another loader, a missing file.
	if _, err := BootEntry(root, 5); !errors.Is(err, ErrNotKernel) || !strings.Contains(err.Error(), "/boot/efi/EFI/refind/refind_x64.efi") {
		t.Errorf("BootEntry(rEFInd) = %v", err)
	}
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{5, 0})
	if p := Detect(root, nil); p.Loader != Unknown {
		t.Errorf("Detect with BootCurrent rEFInd = %+v", p)
	}
	if p := Detect(root, nil); p.Loader != Unknown || !strings.Contains(p.How, `BootCurrent is Boot0005 "rEFInd", \EFI\refind\refind_x64.efi, which warmboot does not know`) {
		t.Errorf("Detect with BootCurrent rEFInd = %+v", p)
	}
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{3, 0})
	os.Remove(filepath.Join(root, "boot/efi/EFI/debian/vmlinuz-old.efi"))
	if _, err := BootEntry(root, 3); err == nil || !strings.Contains(err.Error(), "on no mounted ESP") {
		t.Errorf("BootEntry of a missing kernel = %v", err)
	}
	if p := Detect(root, nil); p.Loader != Unknown || !strings.Contains(p.How, `is on no mounted ESP (/boot/efi, /efi, /boot): mount the ESP`) {
		t.Errorf("Detect with BootCurrent's kernel not found = %+v", p)
	}
	if _, err := BootEntry(root, 9); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("BootEntry of no variable = %v", err)
	}
}

// optionString reads the UCS-2 command line the EFI stub reads, and no
// binary data as one.
func TestOptionString(t *testing.T) {
	enc, _ := efivar.EncodeUTF16("root=/dev/sda1 quiet")
	for _, tt := range []struct {
		in   []byte
		want string
	}{
		{enc, "root=/dev/sda1 quiet"},
		{enc[:len(enc)-2], "root=/dev/sda1 quiet"},
		{[]byte{1, 0, 2, 0}, ""},
		{[]byte{'a'}, ""},
		{nil, ""},
	} {
		if got := optionString(tt.in); got != tt.want {
			t.Errorf("optionString(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// optionString reads any bytes a boot entry may hold without failing,
// and what it returns holds no NUL or control character but tab and
// newline.
func FuzzOptionString(f *testing.F) {
	enc, _ := efivar.EncodeUTF16(`initrd=\EFI\debian\initrd.img root=UUID=x ro`)
	f.Add(enc)
	f.Add([]byte{0xff, 0xfe, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, c := range optionString(b) {
			if c < 0x20 && c != '\t' && c != '\n' {
				t.Fatalf("optionString(%q) holds %q", b, c)
			}
		}
	})
}

// mdESP is firmwareEntries with the ESP at /boot/efi an md RAID1
// (metadata 1.0) of sda1 and sdb1: the entry's GPT GUID resolves, by
// /dev/disk/by-partuuid, to the member sda1, while /dev/md127 is what is
// mounted. The installer's shim and GRUB are still on the ESP, and
// /boot/grub/grub.cfg is still there.
func mdESP(t *testing.T) string {
	root, _ := firmwareEntries(t)
	write(t, root, map[string]string{
		"boot/efi/EFI/debian/shimx64.efi": "MZ shim",
		"boot/efi/EFI/debian/grubx64.efi": "MZ grub",
		"boot/grub/grub.cfg":              grubCfg,
		"proc/self/mountinfo":             "22 1 8:3 / / rw - ext4 /dev/sda3 rw\n24 22 9:127 / /boot/efi rw - vfat /dev/md127 rw\n",
		"dev/sda1":                        "", "dev/sdb1": "",
		"sys/class/block/sda1/holders/md127/dev": "9:127\n",
	})
	dir := filepath.Join(root, "dev/disk/by-partuuid")
	os.MkdirAll(dir, 0o755)
	os.Symlink("../../sda1", filepath.Join(dir, efivar.GUID{7}.String()))
	return root
}

// The entry's partition is found where it is mounted, as itself or as a
// member of the md array mounted (a mirrored ESP); and Detect says what
// BootCurrent is, not what else the ESP holds (the installer's GRUB,
// which the firmware does not start).
func TestBootEntryMirroredESP(t *testing.T) {
	root := mdESP(t)
	if s, err := BootEntry(root, 3); err != nil || s.Device != "md127" {
		t.Errorf("BootEntry on an md RAID1 ESP = %+v, %v", s, err)
	}
	if p := Detect(root, nil); p.Loader != FirmwareEntry {
		t.Errorf("Detect = %+v", p)
	}
	// An entry that cannot be read is no reason to take the ESP's
	// other programs for the cold path.
	os.Remove(filepath.Join(root, "boot/efi/EFI/debian/initrd-old.img"))
	os.RemoveAll(filepath.Join(root, "sys/class/block/sda1/holders"))
	if p := Detect(root, nil); p.Loader != Unknown || !strings.Contains(p.How, "(/dev/sda1) is not mounted") {
		t.Errorf("Detect with BootCurrent's partition not mounted = %+v", p)
	}
}

// A partition /dev/disk/by-partuuid does not have (a disk pulled from a
// mirror) is not read from whichever ESP holds the same path: the
// firmware could not start that entry. Another entry that boots the same
// on the disk that is there is BootNext.
func TestBootEntryAbsentPartition(t *testing.T) {
	root, v := firmwareEntries(t)
	sda := efivar.GUID{0xa}
	write(t, root, map[string]string{
		"proc/self/mountinfo": "22 1 8:3 / / rw - ext4 /dev/sda3 rw\n24 22 8:1 / /boot/efi rw - vfat /dev/sda1 rw\n",
		"dev/sda1":            "",
	})
	dir := filepath.Join(root, "dev/disk/by-partuuid")
	os.MkdirAll(dir, 0o755)
	os.Symlink("../../sda1", filepath.Join(dir, sda.String()))
	fn, _ := efivar.FileNode(`\EFI\debian\vmlinuz-old.efi`)
	opts, _ := efivar.EncodeUTF16(`initrd=\EFI\debian\initrd-old.img root=UUID=x ro console=ttyS0`)
	data, _ := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: "Debian old (sda)", OptionalData: opts,
		FilePath: efivar.DevicePath{efivar.GPTPartition(1, 2048, 1<<20, sda).Node(), fn, efivar.EndNode()}}.Marshal()
	v.Write("Boot0008", efivar.Global, efivar.AttrPersistent, data)
	fn4, _ := efivar.FileNode(`\EFI\debian\vmlinuz-new.efi`)
	opts4, _ := efivar.EncodeUTF16(`initrd=\EFI\debian\initrd-new.img root=UUID=x ro console=ttyS0`)
	data4, _ := efivar.LoadOption{Attributes: efivar.LoadOptionActive, Description: "Debian new (sda)", OptionalData: opts4,
		FilePath: efivar.DevicePath{efivar.GPTPartition(1, 2048, 1<<20, sda).Node(), fn4, efivar.EndNode()}}.Marshal()
	v.Write("Boot0004", efivar.Global, efivar.AttrPersistent, data4)
	v.Write("BootOrder", efivar.Global, efivar.AttrPersistent, []byte{4, 0, 3, 0, 8, 0})
	v.Write("BootCurrent", efivar.Global, efivar.AttrVolatile, []byte{4, 0})
	if _, err := BootEntry(root, 3); err == nil || !strings.Contains(err.Error(), "is not on this machine") {
		t.Errorf("BootEntry of an entry on a partition the machine lacks = %v", err)
	}
	s8, err := BootEntry(root, 8)
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := RefOf(s8.Entry, nil)
	if o, err := Plan(root, Detect(root, nil), choose.Menu{}, ref, nil); err != nil || o.Value != "Boot0008" {
		t.Errorf("Plan = %+v, %v; want BootNext=Boot0008", o, err)
	}
}

// A one-shot someone else set (fwupd's BootNext, an operator's
// grub-reboot or bootctl set-oneshot) is Pending: Set would drop the
// boot it asks for. One's own value, or none, is not.
func TestPending(t *testing.T) {
	root, v := firmwareEntries(t)
	write(t, root, map[string]string{"boot/grub/grub.cfg": grubCfg})
	for _, tt := range []struct {
		o     *state.OneShot
		other func()
		want  string
	}{
		{&state.OneShot{Loader: string(FirmwareEntry), Var: "BootNext", Value: "Boot0003"}, func() { efivar.SetBootNext(v, 5) }, "Boot0005"},
		{&state.OneShot{Loader: string(GRUB), File: "/boot/grub/grubenv", Var: "next_entry", Value: "adv>a"},
			func() {
				Set(root, &state.OneShot{Loader: string(GRUB), File: "/boot/grub/grubenv", Var: "next_entry", Value: "rescue"})
			}, "rescue"},
		{&state.OneShot{Loader: string(SystemdBoot), Var: efivar.LoaderEntryOneShot, Value: "a.conf"},
			func() { v.WriteString(efivar.LoaderEntryOneShot, efivar.Loader, efivar.AttrPersistent, "b.conf") }, "b.conf"},
	} {
		if cur, err := Pending(root, tt.o); cur != "" || err != nil {
			t.Errorf("%s with none set: %q, %v", tt.o, cur, err)
		}
		Set(root, tt.o)
		if cur, err := Pending(root, tt.o); cur != "" || err != nil {
			t.Errorf("%s with its own value set: %q, %v", tt.o, cur, err)
		}
		tt.other()
		if cur, err := Pending(root, tt.o); cur != tt.want || err != nil {
			t.Errorf("%s with another set: %q, %v; want %q", tt.o, cur, err, tt.want)
		}
	}
}
