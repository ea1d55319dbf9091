package discover

import (
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/choose"
)

// TestHostVolumes lays out a running RHEL 8 UEFI host (/ on nvme0n1p3,
// /boot on nvme0n1p2, the ESP at /boot/efi) and scans /boot as warmboot
// list and warmsign do: the ESP is a volume of its own, GRUB's search
// finds /boot by the UUID in its superblock, and the menu is GRUB's (the
// saved entry, BOOT_IMAGE with GRUB's device name), the same the
// bootloader computes from the disks, so what warmsign signs is what the
// bootloader checks.
func TestHostVolumes(t *testing.T) {
	root := t.TempDir()
	cp := func(src, dst string) {
		t.Helper()
		os.MkdirAll(filepath.Join(root, dst), 0o755)
		if out, err := exec.Command("cp", "-a", src+"/.", filepath.Join(root, dst)).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
	}
	cp("testdata/corpus/rhel8-efi/nvme0n1p2", "boot")
	cp("testdata/corpus/rhel8-efi/nvme0n1p1", "boot/efi")
	os.MkdirAll(filepath.Join(root, "proc/self"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(
		"22 1 259:3 / / rw,relatime - xfs /dev/nvme0n1p3 rw\n"+
			"23 22 259:2 / /boot rw,relatime - xfs /dev/nvme0n1p2 rw\n"+
			"24 23 259:1 / /boot/efi rw,relatime - vfat /dev/nvme0n1p1 rw\n"+
			"25 22 0:5 / /proc rw - proc proc rw\n"), 0o644)
	// The superblocks ParseFSID reads: XFS for /boot, FAT32 for the ESP.
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	xfs := make([]byte, 4096)
	copy(xfs, "XFSB")
	copy(xfs[32:], []byte{0x7e, 0x2f, 0x0c, 0x2a, 0x8a, 0x4b, 0x4d, 0x2c, 0x9d, 0x35, 0x6c, 0x1b, 0x0f, 0x1e, 0x2a, 0x11})
	copy(xfs[108:], "boot")
	os.WriteFile(filepath.Join(root, "dev/nvme0n1p2"), xfs, 0o644)
	fat := make([]byte, 4096)
	fat[510], fat[511] = 0x55, 0xAA
	copy(fat[0x52:], "FAT32   ")
	binary.LittleEndian.PutUint32(fat[0x43:], 0xB555118C)
	os.WriteFile(filepath.Join(root, "dev/nvme0n1p1"), fat, 0o644)

	vols, err := HostVolumes(root, "/boot")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, v := range vols {
		got = append(got, strings.TrimPrefix(v.Dir, root)+" "+v.Device+" "+v.UUID)
	}
	want := "/boot nvme0n1p2 7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11|/boot/efi nvme0n1p1 B555-118C"
	if strings.Join(got, "|") != want {
		t.Fatalf("HostVolumes = %q, want %q", strings.Join(got, "|"), want)
	}
	m := choose.Rank(Scan(vols))
	if len(m.Entries) != 3 {
		t.Fatalf("%d entries, want the 3 blscfg makes: %+v", len(m.Entries), m.Entries)
	}
	d := m.Entries[m.Default]
	if d.ID != "0c2f7a1e4d9b4a5c8e1f2a3b4c5d6e7f-4.18.0-477.10.1.el8_8.x86_64" || d.Format != "grub" ||
		!strings.HasPrefix(d.Cmdline, "BOOT_IMAGE=(hd0,gpt2)/vmlinuz-4.18.0-477.10.1.el8_8.x86_64 root=/dev/mapper/rhel-root ro") ||
		d.Root != filepath.Join(root, "boot") {
		t.Errorf("default = %s (%s) %q root %s; want GRUB's saved entry with its BOOT_IMAGE, on /boot", d.ID, d.Format, d.Cmdline, d.Root)
	}
}

// MountOf finds a device the bootloader names as the kernel does, under
// the name the running system mounted it by.
func TestMountOf(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "proc/self"), 0o755)
	os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(
		"22 1 253:0 / / rw,relatime - ext4 /dev/mapper/vg-root rw\n"+
			"23 22 9:127 / /boot rw,relatime - ext4 /dev/md/boot rw\n"+
			"24 23 259:1 / /boot/efi rw,relatime - vfat /dev/nvme0n1p1 rw\n"+
			"25 22 259:1 / /srv/chroot/boot/efi rw,relatime - vfat /dev/nvme0n1p1 rw\n"+
			"26 22 0:5 / /proc rw - proc proc rw\n"+
			"27 22 254:3 / /data rw - xfs /dev/root rw\n"), 0o644)
	// A filesystem the kernel mounted itself is "/dev/root": its device
	// number says which it is.
	os.MkdirAll(filepath.Join(root, "sys/devices/virtual/block/vda3"), 0o755)
	os.MkdirAll(filepath.Join(root, "sys/dev/block"), 0o755)
	if err := os.Symlink("../../devices/virtual/block/vda3", filepath.Join(root, "sys/dev/block/254:3")); err != nil {
		t.Fatal(err)
	}
	for link, target := range map[string]string{"mapper/vg-root": "../dm-0", "md/boot": "../md127"} {
		os.MkdirAll(filepath.Join(root, "dev", filepath.Dir(link)), 0o755)
		os.WriteFile(filepath.Join(root, "dev", filepath.Base(target)), nil, 0o644)
		if err := os.Symlink(target, filepath.Join(root, "dev", link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		device, dir string
		ok          bool
	}{
		{"dm-0", "/", true},
		{"md127", "/boot", true},
		{"nvme0n1p1", "/boot/efi", true}, // its shortest mount point
		{"mapper/vg-root", "/", true},    // the running system's own name
		{"vda3", "/data", true},
		{"vda1", "", false},
		{"proc", "", false},
	} {
		dir, ok, err := MountOf(root, tc.device)
		if err != nil || dir != tc.dir || ok != tc.ok {
			t.Errorf("MountOf(%q) = %q, %v, %v; want %q, %v", tc.device, dir, ok, err, tc.dir, tc.ok)
		}
	}
	if _, _, err := MountOf(t.TempDir(), "vda1"); err == nil {
		t.Error("MountOf without a mount table: no error")
	}
}
