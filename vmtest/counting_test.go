package vmtest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
)

// Boot counting on cold boots, as systemd-boot does it: a new kernel
// installed with 3 tries (kernel-install's "+3") that panics on every boot
// is tried three times, its entry file renamed at each attempt, then ranks
// last and the previous entry boots, with no one at the console. The
// machine reboots itself (panic=1, and QEMU resets instead of exiting).
func TestBLSBootCounting(t *testing.T) {
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
