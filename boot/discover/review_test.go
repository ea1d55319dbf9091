package discover

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/entry"
)

// Adversarial review of grubVars / linkedGrubenv / systemMounts.

// systemMounts takes the first /etc/fstab, in volume order, that names
// vols[self] - not the fstab of the system vols[self] belongs to. The
// installed RHEL 8 follows /boot/grub2/grubenv with its own mount table
// (its own /etc/fstab on the root filesystem, which here is vols[self]
// itself), so does GRUB (it reads the ESP it booted from).
//
//   - hostile: a USB stick or attached ISO that sorts before the root
//     volume (sda1/sr0 before a virtio vda2 root, as in VMs) carries
//     etc/fstab "UUID=<host root> /" + "UUID=<stick> /boot/efi" and an
//     EFI/redhat/grubenv with kernelopts of its choosing; the host's BLS
//     entries are expanded with the stick's kernelopts/saved_entry.
//   - benign: a second installed system whose fstab mounts this
//     system's /boot at /mnt/rhel-boot (multi-boot) makes the link resolve
//     to /mnt/rhel-boot/efi/EFI/redhat/grubenv on the /boot volume: no
//     grubenv, empty $kernelopts, a kernel with no root=.
func TestReviewForeignFstabWins(t *testing.T) {
	realESP := fstest.MapFS{"EFI/redhat/grubenv": {Data: env(t, "saved_entry", "rhel-4.18", "kernelopts", "root=UUID=R ro")}}
	t.Run("stick's fstab names the host root", func(t *testing.T) {
		stick := fstest.MapFS{
			"etc/fstab":          {Data: []byte("UUID=R / xfs defaults 0 0\nUUID=EVIL-0001 /boot/efi vfat defaults 0 0\n")},
			"EFI/redhat/grubenv": {Data: env(t, "saved_entry", "rhel-4.19", "kernelopts", "root=UUID=R ro init=/bin/sh")},
		}
		root := fstest.MapFS{
			"etc/fstab":                          {Data: []byte("UUID=R / xfs defaults 0 0\nUUID=7A3B-1C2D /boot/efi vfat umask=0077 0 2\n")},
			"boot/grub2/grubenv":                 el8Link,
			"boot/loader/entries/rhel-4.19.conf": {Data: []byte(strings.ReplaceAll(el8Entry, "4.18", "4.19"))},
			"boot/loader/entries/rhel-4.18.conf": {Data: []byte(el8Entry)},
		}
		vols := []entry.Volume{
			{FS: stick, Device: "sda1", UUID: "EVIL-0001"},
			{FS: realESP, Device: "vda1", UUID: "7A3B-1C2D"},
			{FS: root, Device: "vda2", UUID: "R"},
		}
		want := []string{
			" rhel-4.19 /boot/vmlinuz-4.19 /boot/initramfs-4.19.img root=UUID=R ro",
			"*rhel-4.18 /boot/vmlinuz-4.18 /boot/initramfs-4.18.img root=UUID=R ro",
		}
		if diff := cmp.Diff(want, menuOf(Scan(vols))); diff != "" {
			t.Errorf("the host's own fstab (on the root filesystem itself) must decide, not sda1's (-want +got):\n%s", diff)
		}
	})
	t.Run("another system mounts this /boot elsewhere", func(t *testing.T) {
		boot := fstest.MapFS{
			"grub2/grubenv":         el8Link,
			"loader/entries/a.conf": {Data: []byte("title A\nlinux /vmlinuz\noptions $kernelopts\n")},
		}
		vols := []entry.Volume{
			{FS: fstest.MapFS{"etc/fstab": {Data: []byte("UUID=OTHER / ext4 defaults 0 1\nUUID=B /mnt/rhel-boot xfs noauto 0 0\n")}}, Device: "nvme0n1p1", UUID: "OTHER"},
			{FS: realESP, Device: "sda1", UUID: "B555-118C"},
			{FS: boot, Device: "sda2", UUID: "B"},
			{FS: fstest.MapFS{"etc/fstab": {Data: []byte("UUID=ROOT / xfs defaults 0 0\nUUID=B /boot xfs defaults 0 0\nUUID=B555-118C /boot/efi vfat umask=0077 0 2\n")}}, Device: "sda3", UUID: "ROOT"},
		}
		if diff := cmp.Diff([]string{"*a /vmlinuz  root=UUID=R ro", `sda2:/loader/entries: saved_entry "rhel-4.18" in grubenv matches no entry; using "a"`}, menuOf(Scan(vols))); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

// The link is first opened on the root filesystem itself (cfgfile.Read
// follows it inside the filesystem), so a file left in the ESP's mount
// point directory on the root filesystem (grub2-efi-x64 or grub2-editenv
// run while /boot/efi was not mounted) is read instead of the ESP's
// grubenv, which is what the running system and GRUB see. The link
// "leaves its filesystem" only in the installed system's view, which has
// the ESP mounted over boot/efi.
func TestReviewGrubenvHiddenUnderMountPoint(t *testing.T) {
	esp := fstest.MapFS{"EFI/redhat/grubenv": {Data: env(t, "saved_entry", "rhel-4.19", "kernelopts", "root=UUID=R ro")}}
	root := fstest.MapFS{
		"etc/fstab":                          {Data: []byte("UUID=R / xfs defaults 0 0\nUUID=7A3B-1C2D /boot/efi vfat umask=0077 0 2\n")},
		"boot/grub2/grubenv":                 el8Link,
		"boot/efi/EFI/redhat/grubenv":        {Data: env(t, "saved_entry", "rhel-4.18", "kernelopts", "root=/dev/sda2 ro stale")},
		"boot/loader/entries/rhel-4.19.conf": {Data: []byte(strings.ReplaceAll(el8Entry, "4.18", "4.19"))},
		"boot/loader/entries/rhel-4.18.conf": {Data: []byte(el8Entry)},
	}
	vols := []entry.Volume{
		{FS: esp, Device: "nvme0n1p1", UUID: "7A3B-1C2D"},
		{FS: root, Device: "nvme0n1p2", UUID: "R"},
	}
	want := []string{
		"*rhel-4.19 /boot/vmlinuz-4.19 /boot/initramfs-4.19.img root=UUID=R ro",
		" rhel-4.18 /boot/vmlinuz-4.18 /boot/initramfs-4.18.img root=UUID=R ro",
	}
	if diff := cmp.Diff(want, menuOf(Scan(vols))); diff != "" {
		t.Errorf("the ESP mounted at /boot/efi hides boot/efi on the root filesystem (-want +got):\n%s", diff)
	}
}
