package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkSwap times, in one VM under OVMF, from the command on the
// running system to the next system's marker: (a) warmswap through the
// bootloader, (b) warmswap -direct, and (c) a cold reboot through the
// firmware (warmswap with never-kexec set: the same orderly shutdown,
// then OVMF, GRUB and warmboot from the disk). The rounds are
// interleaved, WARMBOOT_BENCH_N of them; medians and ratios go to
// out/bench-swap.md. Host wall clock under TCG: compare the ratios.
func BenchmarkSwap(b *testing.B) {
	var t testing.TB = b
	n, _ := strconv.Atoi(os.Getenv("WARMBOOT_BENCH_N"))
	if n <= 0 {
		t.Fatal("make bench sets WARMBOOT_BENCH_N")
	}
	swapSetup(t)
	d, _ := systemDisk(grubESP(t))
	dimg := buildDisk(t, d)
	vm := startEFI(t, dimg, time.Duration(n)*8*time.Minute, true)
	vm.expect("WARMBOOT-SYSTEM-UP boot=1 ", "wbsys$ ")
	modes := []struct{ name, cmd string }{
		{"warm swap through warmboot", "/usr/sbin/warmswap -entry system -grace 1s"},
		{"warm swap -direct", "/usr/sbin/warmswap -direct -entry system -grace 1s"},
		{"cold reboot (OVMF, GRUB, warmboot)", "/usr/sbin/warmswap -entry system -grace 1s"},
	}
	times := make([][]time.Duration, len(modes))
	boot := 1
	for r := 0; r < n; r++ {
		for i, m := range modes {
			cold := i == 2
			if cold {
				vm.sh("write /etc/warmboot/never-kexec benchmark: cold reboot", "ok")
			}
			start := time.Now()
			vm.send(m.cmd + "\r")
			boot++
			vm.expect(fmt.Sprintf("WARMBOOT-SYSTEM-UP boot=%d ", boot))
			times[i] = append(times[i], time.Since(start))
			vm.expect("wbsys$ ")
			if cold {
				vm.sh("rm /etc/warmboot/never-kexec", "ok")
			}
		}
	}
	vm.kill()
	var out strings.Builder
	fmt.Fprintf(&out, "| command to the next system's marker (median of %d, OVMF, TCG) | time | vs cold reboot |\n|---|---|---|\n", n)
	cold := median(times[2])
	for i, m := range modes {
		med := median(times[i])
		fmt.Fprintf(&out, "| %s | %s | %.2f |\n", m.name, med.Round(10*time.Millisecond), float64(med)/float64(cold))
	}
	for i, m := range modes {
		fmt.Fprintf(&out, "\n%s, each run: %v", m.name, round(times[i]))
	}
	out.WriteString("\n")
	t.Logf("\n%s", out.String())
	os.WriteFile(filepath.Join("..", "out", "bench-swap.md"), []byte(out.String()), 0o644)
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
