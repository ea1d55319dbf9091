package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/warmboot/warmboot/images/disk"
	"github.com/warmboot/warmboot/internal/testtool"
)

// The lines README promises, as the bootloader's one console voice prints
// them: a /boot whose journal needs recovery is read without replaying it
// and said so; a kernel that kexec_file_load refuses (this one's header no
// longer says it can be loaded above 4 GiB, which the kernel's bzImage64
// loader requires) is loaded with kexec_load instead, said so, and boots.
func TestConsoleVoice(t *testing.T) {
	parallel(t)
	testtool.Need(t, "debugfs")
	low, err := os.ReadFile(kernel)
	if err != nil {
		t.Fatal(err)
	}
	low[0x236] &^= 1 << 1 // xloadflags: clear XLF_CAN_BE_LOADED_ABOVE_4G
	d := bootFS(map[string]string{
		"/loader/entries/low.conf": blsEntry("Low", "1", "1", "/vmlinuz-low", "console=ttyS0 quiet wbtest=low"),
	})
	d.Parts[0].Files["/vmlinuz-low"] = disk.File{Data: low}
	dimg := buildDisk(t, d)
	// As a crash leaves it: the journal flagged as needing recovery.
	part := fmt.Sprintf("%s?offset=%d", dimg, d.Offset(1))
	if out, err := exec.Command("debugfs", "-w", "-R", "feature needs_recovery", part).CombinedOutput(); err != nil {
		t.Fatalf("debugfs: %v\n%s", err, out)
	}
	vm := bootVM(t, image, fast, "-drive", "file="+dimg+",if=virtio,format=raw")
	expect(t, vm,
		"warmboot: warning: vda1 (ext4); its journal needs recovery (not cleanly unmounted): read without replaying it, so the newest writes may be missing",
		`warmboot: loading "Low 1" from vda1:/loader/entries/low.conf:1`,
		"warmboot: warning: kexec_file_load refused the kernel; falling back to kexec_load kernel=/vmlinuz-low err=",
		`warmboot: booting "Low 1": kernel vda1:/vmlinuz-low (`, "via kexec_load",
		marker("console=ttyS0 quiet wbtest=low"))
	finish(t, vm, true)
}
