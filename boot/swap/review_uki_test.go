package swap

import (
	"os"
	"path/filepath"
	"testing"
)

// Regression test from review; the bug it guarded against: every x86-64 distribution kernel is built with the EFI stub, so
// its bzImage starts with "MZ" (a PE header) while still being a plain
// bzImage ("HdrS" at 0x202). bls.Explicit takes any "MZ" file for a UKI,
// so "warmswap -kernel /boot/vmlinuz -initrd /boot/initrd.img" -- the
// core warm-swap request -- is refused for every real kernel ("is a
// unified kernel image, which carries its initrd"), and without -initrd
// it fails with "no .linux section".
func TestReviewUKIPreflightEFIStubKernel(t *testing.T) {
	root := system(t, "off")
	k := filepath.Join(root, "boot/vmlinuz")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	b[0], b[1] = 'M', 'Z' // as every CONFIG_EFI_STUB bzImage starts
	if err := os.WriteFile(k, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, initrds := range [][]string{{"/boot/initrd.img"}, nil} {
		req := Request{Kernel: "/boot/vmlinuz", Initrds: initrds, Cmdline: cmdA, CmdlineSet: true}
		p, err := Preflight(env(root), req)
		if err != nil {
			t.Errorf("warmswap -kernel /boot/vmlinuz (EFI-stub bzImage) initrds=%v: %v", initrds, err)
			continue
		}
		done(p)
	}
}
