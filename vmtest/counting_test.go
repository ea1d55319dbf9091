package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/images/disk"
)

// Boot counting on cold boots, as systemd-boot does it: a new kernel
// installed with 3 tries (kernel-install's "+3") that panics on every boot
// is tried three times, its entry file renamed at each attempt, then ranks
// last and the previous entry boots, with no one at the console. The
// machine reboots itself (panic=1, and QEMU resets instead of exiting).
func TestBLSBootCounting(t *testing.T) {
	parallel(t)
	d := bootFS(map[string]string{
		"/loader/entries/linux-6.2+3.conf": blsEntry("New", "6.2", "", "/vmlinuz", "console=ttyS0 quiet wbtest=new rdinit=/nonexistent panic=1"),
		"/loader/entries/linux-6.1.conf":   blsEntry("Old", "6.1", "", "/vmlinuz", "console=ttyS0 quiet wbtest=old"),
	})
	dimg := buildDisk(t, d)
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(image),
		qemu.WithAppendKernel("console=ttyS0 quiet "+fast),
		qemu.WithVMTimeout(6*time.Minute),
		qemu.ArbitraryArgs("-drive", "file="+dimg+",if=virtio,format=raw"),
	)
	for _, step := range []struct{ from, to string }{{"linux-6.2+3.conf", "linux-6.2+2-1.conf"}, {"linux-6.2+2-1.conf", "linux-6.2+1-2.conf"}, {"linux-6.2+1-2.conf", "linux-6.2+0-3.conf"}} {
		left := step.to[len("linux-6.2+") : len("linux-6.2+")+1]
		expect(t, vm,
			fmt.Sprintf("warmboot: boot counting: vda1:/loader/entries/%s is now %s (tries left after this one: %s)", step.from, step.to, left),
			`warmboot: booting "New 6.2"`,
			"Kernel panic")
	}
	expect(t, vm,
		" *  1) Old 6.1  [bls vda1:/loader/entries/linux-6.1.conf:1]",
		"    2) New 6.2  [bls vda1:/loader/entries/linux-6.2+0-3.conf:1]",
		`warmboot: booting "Old 6.1"`,
		marker("console=ttyS0 quiet wbtest=old"))
	finish(t, vm, true)

	// On disk, the names systemd-bless-boot and systemd-boot read.
	out, err := exec.Command("debugfs", "-R", "ls /loader/entries", fmt.Sprintf("%s?offset=%d", dimg, d.Offset(1))).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "linux-6.2+0-3.conf") || strings.Contains(string(out), "linux-6.2+3.conf") {
		t.Errorf("entries on disk:\n%s\nwant linux-6.2+0-3.conf and no other name for it", out)
	}
	if out, err := exec.Command("e2fsck", "-fn", fmt.Sprintf("%s?offset=%d", dimg, d.Offset(1))).CombinedOutput(); err != nil {
		t.Errorf("e2fsck after the bootloader's writes: %v\n%s", err, out)
	}
}

// grub-reboot's one-shot entry (next_entry in grubenv) boots once: the
// config's own "save_env next_entry" empties it, written in place as GRUB
// writes its environment block, so GRUB's grub-editenv reads the file and
// the next boot is saved_entry's.
func TestGRUBNextEntry(t *testing.T) {
	parallel(t)
	d := disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "boot", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":      {Src: kernel},
		"/target.img":   {Src: target},
		"/grub/grubenv": {Data: disk.GrubEnv("saved_entry", "g0", "next_entry", "more>two")},
		"/grub/grub.cfg": {Data: []byte(`if [ -s $prefix/grubenv ]; then
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
` + grubEntries())},
	}}}}
	dimg := buildDisk(t, d)
	part := fmt.Sprintf("%s?offset=%d", dimg, d.Offset(1))
	boot := func(want ...string) {
		vm := bootVM(t, image, fast, "-drive", "file="+dimg+",if=virtio,format=raw")
		expect(t, vm, want...)
		finish(t, vm, true)
	}
	boot(`warmboot: grubenv: saved next_entry="" in vda1:/grub/grubenv, as GRUB does`,
		marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=grub-2"))

	env := filepath.Join(t.TempDir(), "grubenv")
	if out, err := exec.Command("debugfs", "-R", "dump /grub/grubenv "+env, part).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	out, err := exec.Command("grub-editenv", env, "list").CombinedOutput()
	if err != nil || string(out) != "saved_entry=g0\nnext_entry=\n" {
		t.Errorf("grub-editenv list = %q, %v; want next_entry emptied and saved_entry kept", out, err)
	}
	if st, err := os.Stat(env); err != nil || st.Size() != 1024 {
		t.Errorf("grubenv: %v, %v; want the 1024-byte block rewritten in place", st, err)
	}
	if out, err := exec.Command("e2fsck", "-fn", part).CombinedOutput(); err != nil {
		t.Errorf("e2fsck after the bootloader's write: %v\n%s", err, out)
	}

	boot(" *  1) zero  [grub vda1:/grub/grub.cfg:", marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=grub-0"))
}
