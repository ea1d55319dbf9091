package bless

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/internal/testtool"
)

// REVIEW: warmboot-bless.service now runs on every boot. On a machine
// GRUB booted, where warmboot armed nothing (no booted.json, no trial in
// the state, the watchdog inactive), bless still opens /dev/watchdog.
// Opening a watchdog starts it; the magic close stops it only where the
// driver allows: with nowayout (CONFIG_WATCHDOG_NOWAYOUT, or the
// driver's nowayout=1 that admins set), the timer keeps running with
// nothing to ping it and the machine resets some 30-60 s after every
// boot: a boot loop on a server that never used warmboot. bless should
// leave a watchdog alone that no trial armed (its sysfs state
// "inactive", or no booted.json / trial).
func TestReviewBlessLeavesIdleWatchdogAlone(t *testing.T) {
	root := t.TempDir()
	k := testtool.BzImage(4096)
	binary.LittleEndian.PutUint16(k[0x20e:], 0x300)
	copy(k[0x500:], "6.1.0-10-amd64 (x) #1 SMP Debian 6.1.38-1\x00")
	files := map[string][]byte{
		"proc/self/mountinfo":                []byte("22 1 254:1 / / rw - ext4 /dev/vda1 rw\n"),
		"proc/version":                       []byte("Linux version 6.1.0-10-amd64 (x) #1 SMP Debian 6.1.38-1\n"),
		"proc/cmdline":                       []byte("BOOT_IMAGE=/boot/vmlinuz root=/dev/vda1 ro\n"),
		"boot/vmlinuz":                       k,
		"boot/grub/grub.cfg":                 []byte("menuentry 'Debian' --id d {\n linux /boot/vmlinuz root=/dev/vda1 ro\n}\n"),
		"dev/watchdog":                       nil,
		"sys/class/watchdog/watchdog0/state": []byte("inactive\n"),
	}
	for n, d := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(n)), 0o755)
		os.WriteFile(filepath.Join(root, n), d, 0o644)
	}
	var said bytes.Buffer
	if err := Bless(root, clog.New(&said, "bless"), Options{}); err != nil {
		t.Fatalf("Bless: %v\n%s", err, said.String())
	}
	if w, _ := os.ReadFile(filepath.Join(root, "dev/watchdog")); len(w) > 0 {
		t.Errorf("bless on a boot GRUB made, with no trial and the watchdog inactive, opened /dev/watchdog (wrote %q): opening starts it, and a nowayout driver then resets the machine\n%s", w, said.String())
	}
}
