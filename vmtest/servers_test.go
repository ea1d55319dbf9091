package vmtest

import (
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/images/disk"
)

// The disks servers boot from: each test lays out what a distribution's
// installer writes, on the controller a server has, and boots its default
// into the target, as the distribution's own loader would.

// untouched records the contents of disk images and returns a check, to
// run after the VM is gone, that fails t if any of them changed: the
// arrays and volumes warmboot assembles are read-only.
func untouched(t *testing.T, images ...string) func() {
	t.Helper()
	before := map[string]string{}
	for _, p := range images {
		before[p] = diskSum(t, p)
	}
	return func() {
		t.Helper()
		for _, p := range images {
			if diskSum(t, p) != before[p] {
				t.Errorf("disk %s changed: warmboot must only read it", p)
			}
		}
	}
}

// diskSum is the SHA-256 of a disk image, to show a test left it untouched.
func diskSum(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

const rhelMachineID = "0c2f7a1e4d9b4a5c8e1f2a3b4c5d6e7f"

// rhelBLS is an entry as kernel.spec's generate_bls_conf.sh writes it on
// RHEL 8.
func rhelBLS(v string) string {
	return fmt.Sprintf(`title Red Hat Enterprise Linux (%[1]s) 8.8 (Ootpa)
version %[1]s
linux /vmlinuz-%[1]s
initrd /initramfs-%[1]s.img $tuned_initrd
options $kernelopts $tuned_params
id rhel-20230412120000-%[1]s
grub_users $grub_users
grub_arg --unrestricted
grub_class kernel
`, v)
}

// rhelESPGrubCfg is the shape of RHEL 8's EFI/redhat/grub.cfg: grubenv from
// the config directory (the ESP), saved_entry, 00_tuned, the /boot
// filesystem found by UUID, blscfg.
const rhelESPGrubCfg = `set pager=1
if [ -f ${config_directory}/grubenv ]; then
  load_env -f ${config_directory}/grubenv
elif [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="${saved_entry}"
fi
if [ x"${feature_menuentry_id}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi
export menuentry_id_option
function load_video {
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
  fi
}
terminal_output console
if [ x$feature_timeout_style = xy ] ; then
  set timeout_style=menu
  set timeout=5
else
  set timeout=5
fi
set tuned_params="skew_tick=1"
set tuned_initrd=""
insmod increment
if [ -n "${boot_counter}" -a "${boot_success}" = "0" ]; then
  if  [ "${boot_counter}" = "0" -o "${boot_counter}" = "-1" ]; then
    set default=1
    set boot_counter=-1
  else
    decrement boot_counter
  fi
  save_env boot_counter
fi
insmod part_gpt
insmod xfs
set root='hd0,gpt2'
if [ x$feature_platform_search_hint = xy ]; then
  search --no-floppy --fs-uuid --set=root --hint-bios=hd0,gpt2 --hint-efi=hd0,gpt2 --hint-baremetal=ahci0,gpt2  7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11
else
  search --no-floppy --fs-uuid --set=root 7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11
fi
if [ -z "${kernelopts}" ]; then
  set kernelopts="root=/dev/mapper/rhel-root ro crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rd.lvm.lv=rhel/swap rhgb quiet "
fi
insmod blscfg
blscfg
menuentry 'System setup' $menuentry_id_option 'uefi-firmware' {
	fwsetup
}
`

// A RHEL 8 UEFI install on NVMe: the ESP holds GRUB's config and grubenv
// ($kernelopts, saved_entry), the XFS /boot the BLS entries and kernels,
// and /boot/grub2/grubenv is the symlink onto the ESP that grub2-tools
// make (it leaves the filesystem: warmboot must not follow it, and gets
// the variables where GRUB does). The saved entry boots, with the command
// line GRUB would build.
func TestRHELStyleNVMe(t *testing.T) {
	parallel(t)
	const older, newer = "4.18.0-477.10.1.el8_8.x86_64", "4.18.0-513.5.1.el8_9.x86_64"
	opts := "console=ttyS0 quiet root=/dev/mapper/rhel-root ro crashkernel=auto wbtest=rhel "
	boot := map[string]disk.File{
		"/grub2/grubenv": {Mode: os.ModeSymlink | 0o777, Data: []byte("../efi/EFI/redhat/grubenv")},
	}
	for _, v := range []string{older, newer} {
		boot["/loader/entries/"+rhelMachineID+"-"+v+".conf"] = disk.File{Data: []byte(rhelBLS(v))}
		boot["/vmlinuz-"+v] = disk.File{Src: kernel}
		boot["/initramfs-"+v+".img"] = disk.File{Src: target}
	}
	d := disk.Disk{Parts: []disk.FS{
		{Type: "vfat", Label: "ESP", UUID: "B555-118C", SizeMiB: 16, ESP: true, Files: map[string]disk.File{
			"/EFI/redhat/grub.cfg": {Data: []byte(rhelESPGrubCfg)},
			"/EFI/redhat/grubenv":  {Data: disk.GrubEnv("saved_entry", rhelMachineID+"-"+older, "kernelopts", opts, "boot_success", "1")},
		}},
		{Type: "xfs", Label: "boot", UUID: "7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11", SizeMiB: 64, Files: boot},
	}}
	dimg := buildDisk(t, d)
	vm := bootVM(t, image, fast,
		"-drive", "file="+dimg+",if=none,id=nvm,format=raw",
		"-device", "nvme,serial=warmboot1,drive=nvm")
	expect(t, vm,
		"nvme-core, nvme",
		"xfs for xfs",
		"warning: nvme0n1p1:/EFI/redhat/grub.cfg:60: menuentry \"System setup\" uses \"fwsetup\", not a Linux kernel; skipped",
		fmt.Sprintf("    1) Red Hat Enterprise Linux (%s) 8.8 (Ootpa)  [grub nvme0n1p2:/loader/entries/%s-%s.conf:1]", newer, rhelMachineID, newer),
		fmt.Sprintf(" *  2) Red Hat Enterprise Linux (%s) 8.8 (Ootpa)  [grub nvme0n1p2:/loader/entries/%s-%s.conf:1]", older, rhelMachineID, older),
		fmt.Sprintf("warmboot: booting \"Red Hat Enterprise Linux (%s) 8.8 (Ootpa)\": kernel nvme0n1p2:/vmlinuz-%s", older, older),
		marker(fmt.Sprintf("BOOT_IMAGE=(hd0,gpt2)/vmlinuz-%s %sskew_tick=1", older, opts)))
	finish(t, vm, true)
}

// A Rocky/RHEL 8 UEFI install with no /boot partition: /boot is a
// directory of the XFS root, so kernel-install's entries say "linux
// /boot/vmlinuz-..." (read against the root, not /boot/boot), the ESP
// holds GRUB's config and the real grubenv, and /boot/grub2/grubenv is the
// symlink onto it. The saved entry boots with $kernelopts from the ESP.
func TestRHELRootWithBootDir(t *testing.T) {
	parallel(t)
	const older, newer = "4.18.0-477.10.1.el8_8.x86_64", "4.18.0-513.5.1.el8_9.x86_64"
	const rootUUID = "4c1f3b2e-9a8d-4e7f-b6c5-2d1e0f9a8b7c"
	opts := "console=ttyS0 quiet root=UUID=" + rootUUID + " ro crashkernel=auto wbtest=rhel-root "
	root := map[string]disk.File{
		"/etc/fstab":          {Data: []byte("UUID=" + rootUUID + " / xfs defaults 0 0\nUUID=7A3B-1C2D /boot/efi vfat umask=0077,shortname=winnt 0 2\n")},
		"/boot/efi/":          {},
		"/boot/grub2/grubenv": {Mode: os.ModeSymlink | 0o777, Data: []byte("../efi/EFI/redhat/grubenv")},
	}
	for _, v := range []string{older, newer} {
		root["/boot/loader/entries/"+rhelMachineID+"-"+v+".conf"] = disk.File{Data: []byte(strings.NewReplacer("linux /", "linux /boot/", "initrd /", "initrd /boot/").Replace(rhelBLS(v)))}
		root["/boot/vmlinuz-"+v] = disk.File{Src: kernel}
		root["/boot/initramfs-"+v+".img"] = disk.File{Src: target}
	}
	dimg := buildDisk(t, disk.Disk{Parts: []disk.FS{
		{Type: "vfat", Label: "ESP", UUID: "7A3B-1C2D", SizeMiB: 16, ESP: true, Files: map[string]disk.File{
			"/EFI/redhat/grub.cfg": {Data: []byte(strings.ReplaceAll(rhelESPGrubCfg, "7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11", rootUUID))},
			"/EFI/redhat/grubenv":  {Data: disk.GrubEnv("saved_entry", rhelMachineID+"-"+older, "kernelopts", opts, "boot_success", "1")},
		}},
		{Type: "xfs", Label: "root", UUID: rootUUID, SizeMiB: 64, Files: root},
	}})
	vm := bootVM(t, image, fast, "-drive", "file="+dimg+",if=virtio,format=raw")
	expect(t, vm,
		fmt.Sprintf("    1) Red Hat Enterprise Linux (%s) 8.8 (Ootpa)  [grub vda2:/boot/loader/entries/%s-%s.conf:1]", newer, rhelMachineID, newer),
		fmt.Sprintf(" *  2) Red Hat Enterprise Linux (%s) 8.8 (Ootpa)  [grub vda2:/boot/loader/entries/%s-%s.conf:1]", older, rhelMachineID, older),
		fmt.Sprintf("warmboot: booting \"Red Hat Enterprise Linux (%s) 8.8 (Ootpa)\": kernel vda2:/boot/vmlinuz-%s", older, older),
		marker(fmt.Sprintf("BOOT_IMAGE=(hd0,gpt2)/boot/vmlinuz-%s %sskew_tick=1", older, opts)))
	finish(t, vm, true)
}

// A RHEL 8 BIOS install whose /boot is XFS, with GRUB's one-shot entry
// pending (grub2-reboot wrote next_entry into /boot/grub2/grubenv).
// warmboot cannot write XFS, so it could never clear it: honoured, it
// would boot that entry on every boot. It is ignored, with the reason,
// and the saved entry boots with no panic= (a boot whose trial cannot be
// recorded gets neither panic=N nor the watchdog, so a failure cannot loop
// either).
func TestRHELXFSOneShot(t *testing.T) {
	parallel(t)
	const older, newer = "4.18.0-477.10.1.el8_8.x86_64", "4.18.0-513.5.1.el8_9.x86_64"
	opts := "console=ttyS0 quiet root=/dev/mapper/rhel-root ro crashkernel=auto wbtest=rhel "
	boot := map[string]disk.File{
		"/grub2/grub.cfg": {Data: []byte(strings.ReplaceAll(rhelESPGrubCfg, "gpt2", "gpt1"))},
		"/grub2/grubenv":  {Data: disk.GrubEnv("saved_entry", rhelMachineID+"-"+older, "next_entry", rhelMachineID+"-"+newer, "kernelopts", opts, "boot_success", "1")},
	}
	for _, v := range []string{older, newer} {
		boot["/loader/entries/"+rhelMachineID+"-"+v+".conf"] = disk.File{Data: []byte(rhelBLS(v))}
		boot["/vmlinuz-"+v] = disk.File{Src: kernel}
		boot["/initramfs-"+v+".img"] = disk.File{Src: target}
	}
	dimg := buildDisk(t, disk.Disk{Parts: []disk.FS{
		{Type: "xfs", Label: "boot", UUID: "7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11", SizeMiB: 64, Files: boot},
	}})
	c := &console{}
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(image),
		qemu.WithAppendKernel("console=ttyS0 quiet "+fast),
		qemu.WithVMTimeout(4*time.Minute),
		qemu.LogSerialByLine(c.add),
		qemu.ArbitraryArgs("-no-reboot", "-drive", "file="+dimg+",if=virtio,format=raw"),
	)
	want := marker(fmt.Sprintf("BOOT_IMAGE=(hd0,gpt1)/vmlinuz-%s %sskew_tick=1", older, opts))
	expect(t, vm,
		fmt.Sprintf(`ignoring next_entry=%q (GRUB's one-shot entry): warmboot cannot clear it here`, rhelMachineID+"-"+newer),
		fmt.Sprintf("warmboot: booting \"Red Hat Enterprise Linux (%s) 8.8 (Ootpa)\": kernel vda1:/vmlinuz-%s", older, older),
		want)
	finish(t, vm, true)
	if l, ok := c.lineAfter("WARMBOOT-TARGET-OK", time.Time{}); !ok || !strings.HasSuffix(strings.TrimSpace(l), want) {
		t.Errorf("the target's command line: %q, want it to end %q (no panic=: nothing records a trial here)", l, want)
	}
}

// A /boot mirrored by md RAID1 across two SATA disks (AHCI), as server
// installers lay it out: array A (metadata 1.0, the filesystem at the
// members' start) holds a GRUB config, array B (metadata 1.2) an XFS with
// BLS entries. Both are assembled read-only, the BLS default boots, and
// neither disk is changed by a single byte.
func TestMDRaid1SATA(t *testing.T) {
	parallel(t)
	uuidA := [16]byte{0xa1, 0xa2, 0xa3, 0xa4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	uuidB := [16]byte{0xb1, 0xb2, 0xb3, 0xb4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	member := func(slot int) disk.Disk {
		return disk.Disk{Parts: []disk.FS{
			{Type: "ext4", Label: "mdgrub", SizeMiB: 24, MD: &disk.MD{Version: "1.0", UUID: uuidA, Name: "srv:grub", RaidDisks: 2, DevNumber: slot},
				Files: map[string]disk.File{
					"/vmlinuz":       {Src: kernel},
					"/target.img":    {Src: target},
					"/grub/grub.cfg": {Data: []byte("set timeout=3\nmenuentry 'mirror grub' --id mg {\n\tlinux /vmlinuz console=ttyS0 quiet wbtest=md-grub\n\tinitrd /target.img\n}\n")},
				}},
			{Type: "xfs", Label: "mdboot", SizeMiB: 64, MD: &disk.MD{Version: "1.2", UUID: uuidB, Name: "srv:boot", RaidDisks: 2, DevNumber: slot},
				Files: map[string]disk.File{
					"/vmlinuz":                    {Src: kernel},
					"/target.img":                 {Src: target},
					"/loader/entries/md-6.1.conf": {Data: []byte(blsEntry("Mirror", "6.1", "", "/vmlinuz", "console=ttyS0 quiet wbtest=md-bls"))},
				}},
		}}
	}
	a, b := buildDisk(t, member(0)), buildDisk(t, member(1))
	check := untouched(t, a, b)
	vm := bootVM(t, image, fast,
		"-drive", "file="+a+",if=none,id=sa,format=raw", "-device", "ide-hd,drive=sa,bus=ide.0",
		"-drive", "file="+b+",if=none,id=sb,format=raw", "-device", "ide-hd,drive=sb,bus=ide.1")
	expect(t, vm,
		"ahci",
		"md-mod, raid1 for md",
		"warmboot: assembled md127: md RAID1 (metadata 1.0, uuid a1a2a3a4:01020304:05060708:090a0b0c) from sda1, sdb1",
		"warmboot: assembled md126: md RAID1 (metadata 1.2, uuid b1b2b3b4:01020304:05060708:090a0b0c) from sda2, sdb2",
		" *  1) Mirror 6.1  [bls md126:/loader/entries/md-6.1.conf:1]",
		"    2) mirror grub  [grub md127:/grub/grub.cfg:2]",
		marker("console=ttyS0 quiet wbtest=md-bls"))
	finish(t, vm, true)
	check()
}

// One disk of a mirror has died: warmboot waits for the missing member
// until warmboot.wait runs out (it might be slow to appear), never mounts
// the surviving member on its own (metadata 1.0 looks like a plain
// filesystem), then starts the array degraded and boots from it.
func TestMDRaid1Degraded(t *testing.T) {
	parallel(t)
	uuid := [16]byte{0xd1, 0xd2, 0xd3, 0xd4, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	a := buildDisk(t, disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "mdgrub", SizeMiB: 24,
		MD: &disk.MD{Version: "1.0", UUID: uuid, Name: "srv:boot", RaidDisks: 2, DevNumber: 1},
		Files: map[string]disk.File{
			"/vmlinuz":       {Src: kernel},
			"/target.img":    {Src: target},
			"/grub/grub.cfg": {Data: []byte("set timeout=3\nmenuentry 'degraded' {\n\tlinux /vmlinuz console=ttyS0 quiet wbtest=md-degraded\n\tinitrd /target.img\n}\n")},
		}}}})
	check := untouched(t, a)
	vm := bootVM(t, image, "warmboot.timeout=0 warmboot.wait=3",
		"-drive", "file="+a+",if=none,id=sa,format=raw", "-device", "ide-hd,drive=sa,bus=ide.0")
	expect(t, vm,
		"warmboot: assembled md127: md RAID1 (metadata 1.0, uuid d1d2d3d4:01020304:05060708:090a0b0c) from sda1, degraded: 1 of 2 members missing",
		" *  1) degraded  [grub md127:/grub/grub.cfg:2]",
		marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=md-degraded"))
	finish(t, vm, true)
	check()
}

// A /boot on an LVM logical volume (a SATA disk whose second partition is
// the volume group's PV): the volume is mapped read-only and its GRUB
// config boots.
func TestLVMBoot(t *testing.T) {
	parallel(t)
	d := disk.Disk{Parts: []disk.FS{
		{Type: "ext4", Label: "other", SizeMiB: 8, Files: map[string]disk.File{"/README": {Data: []byte("not boot")}}},
		{Type: "ext4", Label: "lvboot", SizeMiB: 32, LVM: &[2]string{"rhel", "boot"}, Files: map[string]disk.File{
			"/vmlinuz":        {Src: kernel},
			"/target.img":     {Src: target},
			"/grub2/grub.cfg": {Data: []byte("set timeout=3\nmenuentry 'on lvm' {\n\tlinux /vmlinuz console=ttyS0 quiet wbtest=lvm\n\tinitrd /target.img\n}\n")},
		}},
	}}
	dimg := buildDisk(t, d)
	check := untouched(t, dimg)
	vm := bootVM(t, image, fast, "-drive", "file="+dimg+",if=none,id=sa,format=raw", "-device", "ide-hd,drive=sa,bus=ide.0")
	expect(t, vm,
		"dm-mod for dm",
		"warmboot: LVM volume rhel/boot on sda2 as dm-0 (read-only)",
		" *  1) on lvm  [grub dm-0:/grub2/grub.cfg:2]",
		marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=lvm"))
	finish(t, vm, true)
	check()
}

// Ubuntu installed onto btrfs, on virtio-scsi: the system lives in the
// subvolume "@", so GRUB's prefix is /@/boot/grub and its paths start with
// /@/boot, as GRUB reads them from the top of the filesystem.
func TestBtrfsSubvolume(t *testing.T) {
	parallel(t)
	d := disk.Disk{Parts: []disk.FS{
		{Type: "btrfs", Label: "ubuntu", UUID: "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718", SizeMiB: 128, Subvolumes: []string{"@", "@home"}, Files: map[string]disk.File{
			"/@/boot/vmlinuz-6.8.0-45-generic":    {Src: kernel},
			"/@/boot/initrd.img-6.8.0-45-generic": {Src: target},
			"/@/boot/grub/grub.cfg": {Data: []byte(`function gfxmode {
	set gfxpayload="${1}"
	if [ "${1}" = "keep" ]; then
		set vt_handoff=vt.handoff=7
	else
		set vt_handoff=
	fi
}
set linux_gfx_mode=text
set timeout=2
menuentry 'Ubuntu' --id gnulinux-simple-4e5f {
	gfxmode $linux_gfx_mode
	search --no-floppy --fs-uuid --set=root 4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718
	linux	/@/boot/vmlinuz-6.8.0-45-generic root=UUID=4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718 ro rootflags=subvol=@ console=ttyS0 quiet $vt_handoff
	initrd	/@/boot/initrd.img-6.8.0-45-generic
}
`)},
		}},
	}}
	dimg := buildDisk(t, d)
	vm := bootVM(t, image, fast,
		"-device", "virtio-scsi-pci,id=scsi0",
		"-drive", "file="+dimg+",if=none,id=bt0,format=raw", "-device", "scsi-hd,drive=bt0,bus=scsi0.0")
	expect(t, vm,
		"virtio_scsi",
		"btrfs for btrfs",
		" *  1) Ubuntu  [grub sda1:/@/boot/grub/grub.cfg:11]",
		marker("BOOT_IMAGE=/@/boot/vmlinuz-6.8.0-45-generic root=UUID=4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718 ro rootflags=subvol=@ console=ttyS0 quiet"))
	finish(t, vm, true)
}

// Installer media on a BMC's virtual USB stick (xHCI, usb-storage) with a
// USB keyboard beside it: the USB drivers load for what is plugged in and
// the stick's extlinux menu boots (DEFAULT menu.c32, so MENU DEFAULT).
func TestUSBDisk(t *testing.T) {
	parallel(t)
	d := disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "INSTALL", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":               {Src: kernel},
		"/target.img":            {Src: target},
		"/syslinux/syslinux.cfg": {Data: []byte("DEFAULT menu.c32\r\nPROMPT 0\r\nTIMEOUT 30\r\nLABEL rescue\r\n  MENU LABEL Rescue\r\n  LINUX /vmlinuz\r\n  APPEND console=ttyS0 quiet wbtest=usb-rescue initrd=/target.img\r\nLABEL install\r\n  MENU LABEL Install \x07(beeps)\r\n  MENU DEFAULT\r\n  LINUX /vmlinuz\r\n  INITRD /target.img\r\n  APPEND console=ttyS0 quiet wbtest=usb\r\n")},
	}}}}
	dimg := buildDisk(t, d)
	vm := bootVM(t, image, "warmboot.timeout=0 warmboot.wait=8",
		"-device", "qemu-xhci,id=xhci",
		"-drive", "file="+dimg+",if=none,id=usbdisk,format=raw", "-device", "usb-storage,bus=xhci.0,drive=usbdisk",
		"-device", "usb-kbd,bus=xhci.0")
	expect(t, vm,
		"xhci-pci",
		"usb-storage",
		"hid-generic",
		" *  2) Install (beeps)  [syslinux sda1:/syslinux/syslinux.cfg:8]",
		marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=usb initrd=/target.img"))
	finish(t, vm, true)
}

// A disk a hostile party wrote: a FIFO as a BLS entry, grub.cfg linked to
// /dev/console, a grub.cfg nested 20000 blocks deep, beside a good entry.
// Each is reported by name and the good entry boots, in the usual time.
func TestHostileDisk(t *testing.T) {
	parallel(t)
	deep := strings.Repeat("submenu x {\n", 20000) + strings.Repeat("}\n", 20000)
	vm := startVM(t, disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "boot", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":                  {Src: kernel},
		"/target.img":               {Src: target},
		"/loader/entries/good.conf": {Data: []byte(blsEntry("Good", "1", "", "/vmlinuz", "console=ttyS0 quiet wbtest=hostile-good"))},
		"/loader/entries/fifo.conf": {Mode: os.ModeNamedPipe | 0o644},
		"/grub/grub.cfg":            {Mode: os.ModeSymlink | 0o777, Data: []byte("/dev/console")},
		"/boot/grub2/grub.cfg":      {Data: []byte(deep)},
	}}}}, image, fast)
	expect(t, vm,
		"warmboot: warning: vda1:/loader/entries/fifo.conf: open loader/entries/fifo.conf: not a regular file (a FIFO)",
		"warmboot: warning: vda1:/boot/grub2/grub.cfg:33: blocks nested deeper than 32; fix the config",
		"warmboot: warning: vda1:/grub/grub.cfg: not read: statat grub/grub.cfg: path escapes from parent (a config must be a file on this filesystem)",
		" *  1) Good 1  [bls vda1:/loader/entries/good.conf:1]",
		marker("console=ttyS0 quiet wbtest=hostile-good"))
	finish(t, vm, true)
}

// Debian's installer on a BMC's virtual CD-ROM (an ISO 9660 image on the
// q35 machine's SATA CD drive), its menus as debian-cd writes them: the
// CD's filesystem driver loads when its superblock is seen, isolinux's
// includes are followed, and vesamenu's top-menu MENU DEFAULT boots, not
// the accessibility submenu's own MENU DEFAULT and DEFAULT (read last);
// submenu entries are shown in their place, the Back entries not at all.
// TIMEOUT 0 in isolinux waits for a key, so the test presses Enter.
func TestInstallerCD(t *testing.T) {
	parallel(t)
	iso := t.TempDir() + "/netinst.iso"
	if err := disk.ISO(t.Context(), iso, "Debian 12.6.0 amd64 n", map[string]disk.File{
		"/install.amd/vmlinuz":       {Src: kernel},
		"/install.amd/gtk/initrd.gz": {Src: target},
		"/install.amd/initrd.gz":     {Src: target},
		"/isolinux/isolinux.cfg":     {Data: []byte("# D-I config version 2.0\npath \ninclude menu.cfg\ndefault vesamenu.c32\nprompt 0\ntimeout 0\n")},
		"/isolinux/menu.cfg":         {Data: []byte("menu hshift 4\nmenu title Debian GNU/Linux installer menu (BIOS mode)\ninclude gtk.cfg\nmenu begin advanced\n    menu label ^Advanced options\n\tmenu title Advanced options\n\tlabel mainmenu\n\t\tmenu label ^Back..\n\t\tmenu exit\n\tinclude adgtk.cfg\nmenu end\nmenu begin dark\n    menu label Accessible ^dark contrast installer menu\n\tmenu title Accessible dark contrast option\n\tlabel mainmenu\n\t\tmenu label ^Back..\n\t\tmenu exit\n\tinclude drk.cfg\nmenu end\ninclude spkgtk.cfg\n")},
		"/isolinux/gtk.cfg":          {Data: []byte("default installgui\nlabel installgui\n\tmenu label ^Graphical install\n\tmenu default\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/gtk/initrd.gz --- console=ttyS0 quiet wbtest=cd\n")},
		"/isolinux/adgtk.cfg":        {Data: []byte("label expertgui\n\tmenu label Graphical expert install\n\tkernel /install.amd/vmlinuz\n\tappend priority=low vga=788 initrd=/install.amd/gtk/initrd.gz --- console=ttyS0 quiet wbtest=expert\n")},
		"/isolinux/drk.cfg":          {Data: []byte("label installdark\ndefault installdark\n\tmenu label ^Install\n\tmenu default\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/initrd.gz theme=dark --- console=ttyS0 quiet wbtest=dark\n")},
		"/isolinux/spkgtk.cfg":       {Data: []byte("label installspk\n\tmenu label Graphical install with ^speech synthesis\x07\n\tkernel /install.amd/vmlinuz\n\tappend vga=788 initrd=/install.amd/gtk/initrd.gz speakup.synth=soft --- quiet\n")},
	}); err != nil {
		t.Fatal(err)
	}
	vm := bootVM(t, image, "warmboot.wait=5", "-drive", "file="+iso+",if=none,id=cd,media=cdrom,format=raw", "-device", "ide-cd,drive=cd,bus=ide.1")
	expect(t, vm,
		"isofs for iso9660",
		" *  1) Graphical install  [syslinux sr0:/isolinux/gtk.cfg:2]",
		"    2) Advanced options > Graphical expert install  [syslinux sr0:/isolinux/adgtk.cfg:1]",
		"    3) Accessible dark contrast installer menu > Install  [syslinux sr0:/isolinux/drk.cfg:1]",
		"    4) Graphical install with speech synthesis  [syslinux sr0:/isolinux/spkgtk.cfg:1]",
		`Waiting for a choice (default "Graphical install")`)
	vm.Console.Send("\r")
	expect(t, vm, marker("BOOT_IMAGE=/install.amd/vmlinuz vga=788 initrd=/install.amd/gtk/initrd.gz --- console=ttyS0 quiet wbtest=cd"))
	finish(t, vm, true)
}
