// Package testtool finds the external tools some tests drive (signify,
// swtpm, tpm2_eventlog): such a test fails when its tool is missing and
// WARMBOOT_REQUIRE_TOOLS is set (make sets it, after installing them), and
// skips otherwise, so a bare "go test ./..." works on any machine.
package testtool

import (
	"encoding/binary"
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// Need returns the path of tool, or ends the test.
func Need(t testing.TB, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("WARMBOOT_REQUIRE_TOOLS") != "" {
			t.Fatalf("%s is not installed (make deps installs it): %v", tool, err)
		}
		t.Skipf("%s not installed; make test requires it", tool)
	}
	return p
}

// Bounded runs fn and fails t if it took more than a second or allocated
// more than 64 MiB: what a parser may spend on one fuzz input, however
// hostile, before it is a denial of service of the bootloader.
func Bounded(t testing.TB, fn func()) {
	t.Helper()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	fn()
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
		t.Fatalf("allocated %d MiB for one input (limit 64 MiB)", alloc>>20)
	}
	if d > time.Second {
		t.Fatalf("took %v for one input (limit 1s)", d)
	}
}

// NeedRoot ends the test unless it runs as root (loop devices, mounts),
// failing it where make requires every test to run.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("WARMBOOT_REQUIRE_TOOLS") != "" {
		t.Fatal("this test needs root (loop devices); make test runs as root")
	}
	t.Skip("needs root")
}

// BzImage is a minimal x86 kernel of n bytes that passes
// kexec.CheckBzImage: boot protocol 2.15, its syssize covering n bytes.
func BzImage(n int) []byte {
	b := make([]byte, n)
	b[0x1f1] = 3
	binary.LittleEndian.PutUint32(b[0x1f4:], uint32((n-4*512)/16))
	binary.LittleEndian.PutUint16(b[0x1fe:], 0xaa55)
	copy(b[0x202:], "HdrS")
	binary.LittleEndian.PutUint16(b[0x206:], 0x020f)
	return b
}

// ZstdBzImage lays kernel out as a bzImage built with CONFIG_KERNEL_ZSTD
// (the payload's): three setup sectors after the boot sector, then the
// zstd frame with the kernel's size after it at payload_offset 0, the
// syssize covering it; it passes kexec.CheckBzImage.
func ZstdBzImage(kernel []byte) []byte {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		panic(err)
	}
	z := enc.EncodeAll(kernel, nil)
	z = binary.LittleEndian.AppendUint32(z, uint32(len(kernel)))
	b := BzImage(4 * 512)
	binary.LittleEndian.PutUint32(b[0x1f4:], uint32((len(z)+15)/16))
	binary.LittleEndian.PutUint32(b[0x248:], 0)
	binary.LittleEndian.PutUint32(b[0x24c:], uint32(len(z)))
	b = append(b, z...)
	return append(b, make([]byte, 16)...)
}
