package vmtest

import (
	"fmt"
	"testing"

	"github.com/warmboot/warmboot/images/disk"
)

const fast = "warmboot.timeout=0 warmboot.wait=3"

func blsEntry(title, version, sortKey, kernel, opts string) string {
	s := fmt.Sprintf("title %s\nversion %s\nlinux %s\ninitrd /target.img\noptions %s\n", title, version, kernel, opts)
	if sortKey != "" {
		s += "sort-key " + sortKey + "\n"
	}
	return s
}

// The BLS entry loader.conf names boots, though another sorts first
// ("testing" > "stable" in the spec's decreasing version order of IDs).
func TestBLSDefault(t *testing.T) {
	parallel(t)
	vm := startVM(t, bootFS(map[string]string{
		"/loader/loader.conf":              "timeout 7\ndefault stable-*\n",
		"/loader/entries/testing-6.2.conf": blsEntry("Newer", "6.2", "", "/vmlinuz", "console=ttyS0 quiet wbtest=bls-newer"),
		"/loader/entries/stable-6.1.conf":  blsEntry("Stable", "6.1", "", "/vmlinuz", "console=ttyS0 quiet wbtest=bls-default"),
	}), image, fast)
	expect(t, vm,
		"    1) Newer 6.2  [bls vda1:/loader/entries/testing-6.2.conf:1]",
		" *  2) Stable 6.1  [bls vda1:/loader/entries/stable-6.1.conf:1]",
		`warmboot: booting "Stable 6.1"`,
		"via kexec_file_load",
		"warmboot: timeline: modules=",
		marker("console=ttyS0 quiet wbtest=bls-default"))
	finish(t, vm, true)
}

func grubEntries() string {
	return `menuentry 'zero' --id g0 {
	linux /vmlinuz console=ttyS0 quiet wbtest=grub-0
	initrd /target.img
}
submenu 'More' --id more {
	menuentry 'one' --id g1 {
		linux /vmlinuz console=ttyS0 quiet wbtest=grub-1
		initrd /target.img
	}
	menuentry 'two' --id g2 {
		linux /vmlinuz console=ttyS0 quiet wbtest=grub-2
		initrd /target.img
	}
}
menuentry 'three' --id g3 {
	linux /vmlinuz console=ttyS0 quiet wbtest=grub-3
	initrd /target.img
}
`
}

// "set default" by index counts top-level items (the submenu is item 1).
func TestGRUBSetDefault(t *testing.T) {
	parallel(t)
	vm := startVM(t, bootFS(map[string]string{
		"/grub/grub.cfg": "set timeout=3\nset default=\"2\"\n" + grubEntries(),
	}), image, fast)
	expect(t, vm, " *  4) three  [grub vda1:/grub/grub.cfg:17]", marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=grub-3"))
	finish(t, vm, true)
}

// grubenv's saved_entry, as grub-mkconfig's header reads it, wins.
func TestGRUBSavedEntry(t *testing.T) {
	parallel(t)
	vm := startVM(t, disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "boot", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":      {Src: kernel},
		"/target.img":   {Src: target},
		"/grub/grubenv": {Data: disk.GrubEnv("saved_entry", "more>two")},
		"/grub/grub.cfg": {Data: []byte(`if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
else
   set default="${saved_entry}"
fi
` + grubEntries())},
	}}}}, image, fast)
	expect(t, vm, " *  3) More > two  [grub vda1:/grub/grub.cfg:", marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=grub-2"))
	finish(t, vm, true)
}

// A missing and a truncated kernel are each reported by file, and the
// next entry boots.
func TestBadKernelsFallThrough(t *testing.T) {
	parallel(t)
	d := bootFS(map[string]string{
		"/loader/entries/a.conf": blsEntry("Missing", "1", "1", "/vmlinuz-missing", "console=ttyS0 quiet wbtest=a"),
		"/loader/entries/b.conf": blsEntry("Truncated", "1", "2", "/vmlinuz-truncated", "console=ttyS0 quiet wbtest=b"),
		"/loader/entries/c.conf": blsEntry("Good", "1", "3", "/vmlinuz", "console=ttyS0 quiet wbtest=c"),
	})
	d.Parts[0].Files["/vmlinuz-truncated"] = disk.File{Data: head(t, kernel, 3<<20)}
	vm := startVM(t, d, image, fast)
	expect(t, vm,
		`warmboot: cannot boot "Missing 1": kernel vda1:/vmlinuz-missing: file does not exist; restore the file or fix the entry in vda1:/loader/entries/a.conf:1; trying the next entry`,
		`warmboot: cannot boot "Truncated 1": kernel vda1:/vmlinuz-truncated: truncated: 3145728 bytes, but its header says the kernel is`,
		`warmboot: booting "Good 1"`,
		marker("console=ttyS0 quiet wbtest=c"))
	finish(t, vm, true)
}

// Garbage configs are reported and skipped; the good config still boots.
func TestGarbageConfig(t *testing.T) {
	parallel(t)
	garbage := string(pseudoRandom(4096))
	vm := startVM(t, bootFS(map[string]string{
		"/grub/grub.cfg":            garbage,
		"/loader/entries/junk.conf": garbage,
		"/extlinux/extlinux.conf":   "DEFAULT good\nLABEL good\n  LINUX /vmlinuz\n  INITRD /target.img\n  APPEND console=ttyS0 quiet wbtest=extlinux\n",
	}), image, fast)
	expect(t, vm,
		"warmboot: warning: vda1:/loader/entries/junk.conf:", "not a text file (binary data); fix or remove the file",
		"warmboot: warning: vda1:/grub/grub.cfg:", "not a text file (binary data); fix or remove the file",
		marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=extlinux initrd=/target.img"))
	finish(t, vm, true)
}

// With no configs anywhere, warmboot says what it found and where it
// looked, and gives a working shell instead of a kernel panic.
func TestNoConfigs(t *testing.T) {
	parallel(t)
	vm := startVM(t, bootFS(map[string]string{"/etc/hostname": "empty\n"}), image, "warmboot.wait=1")
	expect(t, vm,
		"warmboot: no boot entries found.",
		"warmboot:   vda1: ext4, mounted read-only",
		"warmboot: looked for: loader/entries, boot/loader/entries, EFI/Linux/*.efi, boot/EFI/Linux/*.efi, boot/grub/grub.cfg")
	shellWorks(t, vm)
}

// The demo disk (GPT: vfat ESP + ext4 /boot, all three formats) shows
// the menu with its countdown and boots its default.
func TestDemoDisk(t *testing.T) {
	parallel(t)
	vm := startVM(t, disk.Demo(kernel, target, release), image, "warmboot.timeout=1")
	expect(t, vm,
		"kernel modules (for the hardware found: ",
		"warmboot: 6 boot entries",
		"    4) Advanced options > warmboot demo (GRUB, saved_entry)  [grub vda2:/grub/grub.cfg:18]",
		"    6) warmboot demo (extlinux)  [syslinux vda1:/extlinux/extlinux.conf:4]",
		`Booting "warmboot demo (BLS) `+release+`" in 1s...`,
		marker("console=ttyS0 quiet warmboot.demo=bls"))
	finish(t, vm, true)
}

// Keys typed on the serial console choose an entry and edit its
// command line.
func TestMenuEdit(t *testing.T) {
	parallel(t)
	vm := startVM(t, disk.Demo(kernel, target, release), image, "warmboot.timeout=60")
	expect(t, vm, "(any key stops the countdown)")
	vm.Console.Send("6")
	expect(t, vm, "Countdown stopped.")
	vm.Console.Send("e")
	expect(t, vm, `Edit the command line of "warmboot demo (extlinux)"`)
	vm.Console.Send("\x15console=ttyS0 quiet edited=yes\r")
	expect(t, vm, marker("console=ttyS0 quiet edited=yes"))
	finish(t, vm, true)
}

// When every entry fails, each failure is listed with its cause and a
// shell starts: the machine is never left at a dead end.
func TestNothingBootable(t *testing.T) {
	parallel(t)
	d := bootFS(map[string]string{
		"/loader/entries/a.conf": blsEntry("Gone", "1", "1", "/vmlinuz-gone", "console=ttyS0"),
		"/loader/entries/b.conf": blsEntry("Not a kernel", "1", "2", "/target.img", "console=ttyS0"),
	})
	vm := startVM(t, d, image, fast)
	expect(t, vm,
		"warmboot: nothing could be booted:",
		"warmboot:   1) Gone 1: kernel vda1:/vmlinuz-gone: file does not exist",
		"warmboot:   2) Not a kernel 1: kernel vda1:/target.img: not an x86 bzImage")
	shellWorks(t, vm)
}
