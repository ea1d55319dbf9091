package vmtest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkDebian times a reboot of the stock Debian 12 system
// (debianBoth with Debian's stock 30 MB initrd, signed, policy enforce)
// four ways, interleaved, WARMBOOT_BENCH_N rounds in one VM: warmswap
// through warmboot re-entering the payload (README's install), the same
// through the image on Debian's kernel (-bootloader /boot/warmboot-image),
// warmswap -direct, and through the firmware (warmswap with never-kexec:
// the same systemd shutdown, then QEMU's reset, SeaBIOS and its -kernel,
// which stands in for the firmware and GRUB; a server's POST adds its
// minutes to this path alone). Phase by phase, from the console (host
// clock), the previous boot's journal (systemd's stop), warmboot's
// timeline and the new boot's clock (/proc/uptime, systemd-analyze);
// medians to out/bench-debian.md. The downtime is from warmswap handing
// over to systemd (services start stopping) to the login prompt.
func BenchmarkDebian(b *testing.B) {
	n := benchN(b)
	s := debianBoth(b, true)
	d := s.d
	d.ok("warmsign sign -key /root/host.sec -root / -all >/dev/null")
	entry := "gnulinux-simple-" + s.uuid
	modes := []struct{ name, cmd string }{
		{"through the payload", "warmswap -entry " + entry},
		{"through Debian's kernel + image", "warmswap -bootloader /boot/warmboot-image -entry " + entry},
		{"warmswap -direct", "warmswap -direct -entry " + entry},
		{"firmware reboot", "warmswap -entry " + entry},
	}
	const (
		pChecks = iota
		pLoad
		pStop
		pBLKernel
		pBLWork
		pBLFind
		pBLRead
		pBLLoad
		pPurgatory
		pKernel
		pSystemd
		pDowntime
		pTotal
		nPhases
	)
	phases := [nPhases]string{"warmswap's checks", "warmswap's load (and record)", "systemd's stop",
		"kexec to warmboot running (its kernel)", "warmboot's work, start to kexec", "  of which discovery, mounts, parsing",
		"  of which reading and verifying the target", "  of which kexec_file_load of the target",
		"to the target kernel (purgatory; firmware)", "kernel + initramfs (to systemd)", "systemd to login",
		"**downtime** (services stopping to login)", "total, command to login"}
	bootloader := func(i int) bool { return i < 2 }
	times := make([][][]time.Duration, len(modes)) // mode, phase, round
	for i := range times {
		times[i] = make([][]time.Duration, nPhases)
	}
	for r := 0; r < n; r++ {
		for i, m := range modes {
			firmware := i == 3
			if firmware {
				d.ok("echo benchmark: firmware reboot > /etc/warmboot/never-kexec")
			}
			start := time.Now()
			d.send(m.cmd)
			d.expect("warmswap: systemd is PID 1: handing over to systemctl ")
			handed := d.seen("warmswap: systemd is PID 1: handing over to systemctl ", start)
			// The shell prompts again as warmswap exits: the new boot's
			// prompt follows its login banner.
			d.expect("Debian GNU/Linux 12 debian ttyS0", "wbdeb# ")
			login := time.Now()
			d.ok("systemctl is-system-running --wait >/dev/null || true")
			if firmware {
				d.ok("rm /etc/warmboot/never-kexec")
			}
			var ph [nPhases]time.Duration
			planned := d.seen("warmswap: plan: ", start)
			ph[pChecks] = planned.Sub(start)
			ph[pLoad] = handed.Sub(planned)
			ph[pStop] = journalStop(b, d)
			stopped := handed.Add(ph[pStop])
			// The new kernel's clock starts at zero: where it started, on
			// the host's clock.
			up0, upAt := d.uptime()
			kzero := upAt.Add(-up0)
			from := stopped
			if bootloader(i) {
				started := d.seen("warmboot: starting", handed)
				tl := d.seen("warmboot: timeline:", started)
				ph[pBLKernel] = started.Sub(stopped)
				ph[pBLWork] = tl.Sub(started)
				from = tl
				if l, ok := d.c.lineAfter("warmboot: timeline:", started); ok {
					ph[pBLFind], ph[pBLRead], ph[pBLLoad] = workSplit(l)
				}
				if _, ok := d.c.lineAfter("warmboot: fast path: mounted only", started); !ok {
					b.Logf("round %d, %s: the fast path was not taken", r+1, m.name)
				}
			}
			ph[pPurgatory] = kzero.Sub(from)
			ph[pKernel] = d.analyze()
			ph[pSystemd] = login.Sub(kzero) - ph[pKernel]
			ph[pDowntime] = login.Sub(handed)
			ph[pTotal] = login.Sub(start)
			for p := range ph {
				times[i][p] = append(times[i][p], ph[p])
			}
			b.Logf("round %d, %s: %v", r+1, m.name, ph)
			d.ok("mount -o ro /dev/vdb1 /mnt 2>/dev/null || true")
		}
	}

	var out strings.Builder
	fmt.Fprintf(&out, "Reboots of the stock Debian 12 system (Debian's 6.1 kernel, 8 MB, and its stock initramfs-tools initrd, 30 MB; systemd 252; policy enforce) in QEMU (TCG, 2 vCPUs, 2 GiB, %s), medians of %d interleaved rounds, seconds:\n\n", os.Getenv("WARMBOOT_QEMU_ACCEL"), n)
	fmt.Fprintf(&out, "| phase |")
	for _, m := range modes {
		fmt.Fprintf(&out, " %s |", m.name)
	}
	fmt.Fprintf(&out, "\n|---|---:|---:|---:|---:|\n")
	for p, name := range phases {
		fmt.Fprintf(&out, "| %s |", name)
		for i := range modes {
			if p >= pBLKernel && p <= pBLLoad && !bootloader(i) {
				fmt.Fprint(&out, " - |")
				continue
			}
			fmt.Fprintf(&out, " %.2f |", median(times[i][p]).Seconds())
		}
		fmt.Fprintln(&out)
	}
	direct := times[2]
	for i := range 2 {
		fmt.Fprintf(&out, "\n%s over -direct: downtime %+.2f s, total %+.2f s.", modes[i].name,
			(median(times[i][pDowntime]) - median(direct[pDowntime])).Seconds(), (median(times[i][pTotal]) - median(direct[pTotal])).Seconds())
	}
	fmt.Fprintf(&out, "\nEach round's total, by mode:")
	for i, m := range modes {
		fmt.Fprintf(&out, "\n- %s: %v", m.name, round(times[i][pTotal]))
	}
	out.WriteString("\n")
	b.Log("\n" + out.String())
	if err := os.WriteFile(filepath.Join("..", "out", "bench-debian.md"), []byte(out.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	d.send("systemctl poweroff")
	d.vm.Wait()
}

// monoRE is a journal line's time with -o short-monotonic: "[  104.247276]".
var monoRE = regexp.MustCompile(`^\[\s*([0-9.]+)\]`)

// journalStop is how long systemd took to stop the previous boot: from
// warmswap handing over to the journal's last line, on that boot's
// monotonic clock.
func journalStop(t testing.TB, d *debVM) time.Duration {
	t.Helper()
	out := d.ok("journalctl -b -1 -o short-monotonic --no-hostname | grep -E 'handing over to systemctl|Journal stopped' | sed -n '1p;$p'")
	var ts []float64
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if m := monoRE.FindStringSubmatch(strings.TrimSpace(l)); m != nil {
			v, _ := strconv.ParseFloat(m[1], 64)
			ts = append(ts, v)
		}
	}
	if len(ts) != 2 || !strings.Contains(out, "Journal stopped") {
		t.Fatalf("the previous boot's journal has no hand-over and stop:\n%s", out)
	}
	return time.Duration((ts[1] - ts[0]) * float64(time.Second))
}

// seen is when the console line holding sub arrived, at or after since.
// The console's lines are recorded by another goroutine than the one
// expect reads with: a line expect has matched may not be there yet.
func (d *debVM) seen(sub string, since time.Time) time.Time {
	d.t.Helper()
	for range 250 {
		if at, ok := d.c.seenAt(sub, since); ok {
			return at
		}
		time.Sleep(20 * time.Millisecond)
	}
	d.t.Fatalf("the console never printed %q", sub)
	return time.Time{}
}

// uptime is the guest's /proc/uptime and when (host clock) it was read.
func (d *debVM) uptime() (time.Duration, time.Time) {
	d.t.Helper()
	out := d.ok("cut -d' ' -f1 /proc/uptime")
	at := time.Now()
	v, err := strconv.ParseFloat(strings.TrimSpace(out), 64)
	if err != nil {
		d.t.Fatalf("uptime %q: %v", out, err)
	}
	return time.Duration(v * float64(time.Second)), at
}

// analyze is the boot's time to systemd from systemd-analyze: the kernel
// and its initramfs (initramfs-tools runs no systemd in the initrd, so
// systemd counts the two as one, "kernel").
func (d *debVM) analyze() time.Duration {
	d.t.Helper()
	out := d.ok("systemd-analyze time | head -1")
	// "Startup finished in 7.433s (kernel) + 8.281s (userspace) = ...",
	// a minute written "1min 2.3s"; with a systemd initrd there is an
	// "(initrd)" term too.
	parse := func(what string) time.Duration {
		m := regexp.MustCompile(`((?:[0-9]+min )?[0-9.]+m?s) \(` + what + `\)`).FindStringSubmatch(out)
		if m == nil {
			if what == "initrd" {
				return 0
			}
			d.t.Fatalf("systemd-analyze: no %s time in %q", what, out)
		}
		v, err := time.ParseDuration(strings.ReplaceAll(m[1], "min ", "m"))
		if err != nil {
			d.t.Fatalf("systemd-analyze %q: %v", m[1], err)
		}
		return v
	}
	return parse("kernel") + parse("initrd")
}
