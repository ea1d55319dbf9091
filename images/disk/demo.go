package disk

import (
	"fmt"

	"github.com/warmboot/warmboot/boot/grubenv"
)

// Demo is the built-in demo disk: a GPT disk with an ESP holding an
// extlinux config and an ext4 /boot holding BLS entries (with a
// loader.conf default), a GRUB config with a submenu whose default comes
// from grubenv's saved_entry, and the kernel and target initramfs they
// boot. Every entry's command line carries warmboot.demo=<name>, which the
// target prints back.
func Demo(kernel, target, release string) Disk {
	cmd := func(name string) string { return "console=ttyS0 quiet warmboot.demo=" + name }
	vmlinuz := "/vmlinuz-" + release
	return Disk{Parts: []FS{
		{Type: "vfat", Label: "esp", SizeMiB: 24, ESP: true, Files: map[string]File{
			"/vmlinuz":    {Src: kernel},
			"/target.img": {Src: target},
			"/extlinux/extlinux.conf": {Data: []byte(fmt.Sprintf(`# extlinux on the ESP: relative paths are relative to this directory.
DEFAULT demo
TIMEOUT 50
LABEL demo
  MENU LABEL warmboot demo (extlinux)
  LINUX ../vmlinuz
  INITRD ../target.img
  APPEND %s
`, cmd("extlinux")))},
		}},
		{Type: "ext4", Label: "boot", SizeMiB: 40, Files: map[string]File{
			vmlinuz:               {Src: kernel},
			"/target.img":         {Src: target},
			"/loader/loader.conf": {Data: []byte("timeout 5\ndefault warmboot-demo-*\n")},
			"/loader/entries/warmboot-demo-" + release + ".conf": {Data: []byte(fmt.Sprintf(
				"title warmboot demo (BLS)\nversion %s\nlinux %s\ninitrd /target.img\noptions %s\n", release, vmlinuz, cmd("bls")))},
			"/loader/entries/rescue.conf": {Data: []byte(fmt.Sprintf(
				"title warmboot demo rescue (BLS)\nlinux %s\ninitrd /target.img\noptions %s single\n", vmlinuz, cmd("bls-rescue")))},
			"/grub/grubenv": {Data: GrubEnv("saved_entry", "demo-advanced>demo-second")},
			"/grub/grub.cfg": {Data: []byte(fmt.Sprintf(`# GRUB config in the style grub-mkconfig writes.
if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
else
   set default="${saved_entry}"
fi
set timeout=5
menuentry 'warmboot demo (GRUB)' --id demo-first {
	insmod ext2
	search --no-floppy --label --set=root boot
	linux	%[1]s %[2]s
	initrd	/target.img
}
submenu 'Advanced options' --id demo-advanced {
	menuentry 'warmboot demo (GRUB, saved_entry)' --id demo-second {
		linux	%[1]s %[3]s
		initrd	/target.img
	}
	menuentry 'warmboot demo (GRUB, recovery)' --id demo-recovery {
		linux	%[1]s %[2]s single
		initrd	/target.img
	}
}
`, vmlinuz, cmd("grub"), cmd("grub-saved")))},
		}},
	}}
}

// GrubEnv renders a GRUB environment block as grub-editenv writes it
// (1024 bytes, '#'-padded), holding kv.
func GrubEnv(kv ...string) []byte {
	b := grubenv.New()
	for i := 0; i+1 < len(kv); i += 2 {
		var err error
		if b, err = grubenv.Set(b, kv[i], kv[i+1]); err != nil {
			panic(fmt.Sprintf("GrubEnv: %v", err))
		}
	}
	return b
}
