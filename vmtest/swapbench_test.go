package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/images/disk"
)

// BenchmarkSwap times, in one VM under OVMF, from the command on the
// running system to the next system's marker: (a) warmswap through the
// bootloader, (b) warmswap -direct, and (c) a cold reboot through the
// firmware (warmswap with never-kexec set: the same orderly shutdown,
// then OVMF, GRUB and warmboot from the disk). The rounds are
// interleaved, WARMBOOT_BENCH_N of them; medians and ratios go to
// out/bench-swap.md. Host wall clock under TCG: compare the ratios.
func BenchmarkSwap(b *testing.B) {
	swapSetup(b)
	d, _ := systemDisk(grubESP(b))
	benchSwap(b, d, "cold reboot (OVMF, GRUB, warmboot)", "bench-swap.md")
}

// BenchmarkSwapPayload is BenchmarkSwap with the payload: installed in
// /boot/warmboot as warmboot.bzImage (what warmswap re-enters) and on the
// ESP as the firmware's boot program (what a cold reboot starts), in
// out/bench-swap-payload.md.
func BenchmarkSwapPayload(b *testing.B) {
	d, part, _ := payloadSystem(b, true)
	root := d.Parts[part-1].Files
	// The firmware starts the payload with no arguments: the menu's
	// timeout comes from loader.conf, as the GRUB path's
	// warmboot.timeout=0 does for BenchmarkSwap.
	root["/boot/loader/loader.conf"] = disk.File{Data: []byte("default system\ntimeout 0\n")}
	benchSwap(b, d, "cold reboot (OVMF, the payload from the ESP)", "bench-swap-payload.md")
}

func benchSwap(t testing.TB, d disk.Disk, coldName, report string) {
	n := benchN(t)
	dimg := buildDisk(t, d)
	vm := startEFI(t, dimg, time.Duration(n)*8*time.Minute, true)
	vm.expect("WARMBOOT-SYSTEM-UP boot=1 ", "wbsys$ ")
	vm.sh("/usr/sbin/warmboot bless", "exit=0")
	modes := []struct{ name, cmd string }{
		{"warm swap through warmboot", "/usr/sbin/warmswap -entry system -grace 1s"},
		{"warm swap -direct", "/usr/sbin/warmswap -direct -entry system -grace 1s"},
		{coldName, "/usr/sbin/warmswap -entry system -grace 1s"},
	}
	times := make([][]time.Duration, len(modes))
	// Where the time goes, by the console lines each path prints: the
	// command to warmswap's kexec (checks, load, shutdown), from there to
	// warmboot's start (its kernel's boot), warmboot's work (to its
	// timeline line, the target loaded), and from warmboot's kexec or
	// warmswap's (-direct) to the system's marker (the target's boot).
	// The downtime is from warmswap's "stopping" (services start
	// stopping) to the marker; warmboot's work is split by its timeline.
	type split struct{ checks, shutdown, blKernel, blWork, blFind, blRead, blLoad, target, downtime time.Duration }
	splits := make([][]split, len(modes))
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
			up := time.Now()
			times[i] = append(times[i], up.Sub(start))
			if i < 2 {
				kexec, ok1 := vm.all.seenAt("warmswap: kexec", start)
				stopping, ok0 := vm.all.seenAt("warmswap: stopping", start)
				var sp split
				sp.checks, sp.shutdown = stopping.Sub(start), kexec.Sub(stopping)
				sp.target, sp.downtime = up.Sub(kexec), up.Sub(stopping)
				if i == 0 {
					started, ok2 := vm.all.seenAt("warmboot: starting", kexec)
					tl, ok3 := vm.all.seenAt("warmboot: timeline:", started)
					if ok2 && ok3 {
						sp.blKernel, sp.blWork, sp.target = started.Sub(kexec), tl.Sub(started), up.Sub(tl)
						if l, ok := vm.all.lineAfter("warmboot: timeline:", started); ok {
							sp.blFind, sp.blRead, sp.blLoad = workSplit(l)
						}
					}
					if _, ok := vm.all.lineAfter("warmboot: fast path: mounted only", kexec); !ok {
						t.Logf("round %d: the fast path was not taken", r+1)
					}
				}
				if ok0 && ok1 {
					splits[i] = append(splits[i], sp)
				}
			}
			vm.expect("wbsys$ ")
			// Every swap is a trial: the system blesses itself, as
			// warmboot-bless.service does, or the next return to the
			// bootloader would count it failed and pass it over.
			vm.sh("/usr/sbin/warmboot bless", "exit=0")
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
	pick := func(ss []split, f func(split) time.Duration) time.Duration {
		var ds []time.Duration
		for _, s := range ss {
			ds = append(ds, f(s))
		}
		if len(ds) == 0 {
			return 0
		}
		return median(ds).Round(10 * time.Millisecond)
	}
	fmt.Fprintf(&out, "\n| phase (median, host clock) | through warmboot | -direct |\n|---|---|---|\n")
	for _, ph := range []struct {
		name string
		f    func(split) time.Duration
	}{
		{"command to \"stopping\" (warmswap's checks and load)", func(s split) time.Duration { return s.checks }},
		{"stopping to kexec (the shutdown)", func(s split) time.Duration { return s.shutdown }},
		{"kexec to warmboot's start (the bootloader's kernel)", func(s split) time.Duration { return s.blKernel }},
		{"warmboot's start to its kexec", func(s split) time.Duration { return s.blWork }},
		{"  of which discovery, mounts, parsing (timeline)", func(s split) time.Duration { return s.blFind }},
		{"  of which reading and verifying the target", func(s split) time.Duration { return s.blRead }},
		{"  of which kexec_file_load of the target", func(s split) time.Duration { return s.blLoad }},
		{"last kexec to the system's marker (the target's boot)", func(s split) time.Duration { return s.target }},
		{"**downtime**: stopping to the system's marker", func(s split) time.Duration { return s.downtime }},
	} {
		fmt.Fprintf(&out, "| %s | %s | %s |\n", ph.name, pick(splits[0], ph.f), pick(splits[1], ph.f))
	}
	fmt.Fprintf(&out, "\nThrough warmboot over -direct: downtime %+.2f s, command to marker %+.2f s.\n",
		(pick(splits[0], func(s split) time.Duration { return s.downtime }) - pick(splits[1], func(s split) time.Duration { return s.downtime })).Seconds(),
		(median(times[0]) - median(times[1])).Seconds())
	for i, m := range modes {
		fmt.Fprintf(&out, "\n%s, each run: %v", m.name, round(times[i]))
	}
	out.WriteString("\n")
	t.Logf("\n%s", out.String())
	os.WriteFile(filepath.Join("..", "out", report), []byte(out.String()), 0o644)
}

func round(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(10 * time.Millisecond)
	}
	return out
}
