package vmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/images/disk"
)

// stamps records when console lines containing given strings first
// arrive, on the host clock.
type stamps struct {
	start time.Time
	watch []string
	mu    sync.Mutex
	seen  map[string]time.Duration
	lines map[string]string
	pw    *io.PipeWriter
	done  chan struct{}
}

func newStamps(watch ...string) *stamps {
	pr, pw := io.Pipe()
	s := &stamps{start: time.Now(), watch: watch, seen: map[string]time.Duration{}, lines: map[string]string{}, pw: pw, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			now := time.Since(s.start)
			s.mu.Lock()
			for _, w := range s.watch {
				if _, ok := s.seen[w]; !ok && strings.Contains(sc.Text(), w) {
					s.seen[w] = now
					s.lines[w] = sc.Text()
				}
			}
			s.mu.Unlock()
		}
		io.Copy(io.Discard, pr)
	}()
	return s
}

func (s *stamps) Write(p []byte) (int, error) { return s.pw.Write(p) }
func (s *stamps) Close() error                { s.pw.Close(); <-s.done; return nil }

func (s *stamps) at(t testing.TB, w string) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.seen[w]
	if !ok {
		t.Fatalf("console never printed %q", w)
	}
	return d
}

const banner = "Welcome to u-root!"

type bootRun struct {
	Start2Marker, Banner2Marker, Banner2Handoff time.Duration
	Phases                                      map[string]time.Duration
}

var phaseRE = regexp.MustCompile(`(\w+)=([0-9.]+(?:ms|s|µs))`)

func parsePhases(line string) map[string]time.Duration {
	out := map[string]time.Duration{}
	_, rest, _ := strings.Cut(line, "timeline: ")
	for _, m := range phaseRE.FindAllStringSubmatch(rest, -1) {
		if d, err := time.ParseDuration(m[2]); err == nil {
			out[m[1]] = d
		}
	}
	return out
}

// workSplit is warmboot's work in its timeline line: finding the entry
// (discovery, mounts, parsing), reading and verifying it, and its
// kexec_file_load.
func workSplit(line string) (find, read, load time.Duration) {
	tp := parsePhases(line)
	return tp["discover"] + tp["mount"] + tp["parse"], tp["read"] + tp["verify"], tp["load"]
}

// bootOnceWith boots warmboot with no countdown and extra QEMU arguments.
func bootOnceWith(t testing.TB, img, dimg string, extra []string) bootRun {
	return bootRunVM(t, img, dimg, false, 0, extra)
}

func bootOnce(t testing.TB, img, dimg string, peer bool, timeout int) bootRun {
	return bootRunVM(t, img, dimg, peer, timeout, nil)
}

func bootRunVM(t testing.TB, img, dimg string, peer bool, timeout int, extra []string) bootRun {
	handoff := "warmboot: timeline:"
	if peer {
		handoff = "Attempting to boot"
	}
	st := newStamps(banner, handoff, "WARMBOOT-TARGET-OK", "Enter an option")
	args := fmt.Sprintf("console=ttyS0 quiet warmboot.timeout=%d", timeout)
	vm := qemu.StartT(t, "bench", qemu.ArchAMD64,
		qemu.WithKernel(kernel), qemu.WithInitramfs(img), qemu.WithAppendKernel(args),
		qemu.WithVMTimeout(4*time.Minute), qemu.WithSerialOutput(st),
		qemu.ArbitraryArgs(append([]string{"-no-reboot", "-drive", "file=" + dimg + ",if=virtio,format=raw,snapshot=on"}, extra...)...))
	if peer {
		// u-root's menu has a fixed 10s timeout; choose the default at
		// once so only its work is measured.
		expect(t, vm, "Enter an option")
		vm.Console.Send("\r")
	}
	expect(t, vm, "WARMBOOT-TARGET-OK")
	finish(t, vm, true)
	st.Close()
	r := bootRun{
		Start2Marker:   st.at(t, "WARMBOOT-TARGET-OK"),
		Banner2Marker:  st.at(t, "WARMBOOT-TARGET-OK") - st.at(t, banner),
		Banner2Handoff: st.at(t, handoff) - st.at(t, banner),
	}
	if !peer {
		r.Phases = parsePhases(st.lines[handoff])
	}
	return r
}

// benchN is how many runs of each kind a benchmark makes: each is a VM
// boot, so make bench counts them in WARMBOOT_BENCH_N, not b.N.
func benchN(t testing.TB) int {
	t.Helper()
	n, _ := strconv.Atoi(os.Getenv("WARMBOOT_BENCH_N"))
	if n <= 0 {
		t.Fatal("make bench sets WARMBOOT_BENCH_N")
	}
	return n
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func fileSize(t testing.TB, p string) int64 {
	st, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return st.Size()
}

// BenchmarkBoot boots the demo disk WARMBOOT_BENCH_N times with warmboot
// and with u-root's boot command (same kernel, same disk, same QEMU flags)
// and reports medians and ratios, in out/bench.md. Run it with make bench
// (-benchtime=1x: the runs are counted by WARMBOOT_BENCH_N, not b.N, since
// each is a VM boot).
func BenchmarkBoot(b *testing.B) {
	var t testing.TB = b
	n := benchN(t)
	peerImg := os.Getenv("WARMBOOT_PEER")
	if peerImg == "" {
		t.Fatal("make bench sets WARMBOOT_PEER")
	}
	dimg := filepath.Join(t.TempDir(), "demo.img")
	if err := disk.Build(context.Background(), dimg, disk.Demo(kernel, target, release)); err != nil {
		t.Fatal(err)
	}
	const countdown = 3
	var wb, wbc, ur []bootRun
	for i := 0; i < n; i++ { // interleaved, so drift hits all alike
		wb = append(wb, bootOnce(t, image, dimg, false, 0))
		wbc = append(wbc, bootOnce(t, image, dimg, false, countdown))
		ur = append(ur, bootOnce(t, peerImg, dimg, true, 0))
	}
	pick := func(rs []bootRun, f func(bootRun) time.Duration) time.Duration {
		var ds []time.Duration
		for _, r := range rs {
			ds = append(ds, f(r))
		}
		return median(ds)
	}
	s2m := func(r bootRun) time.Duration { return r.Start2Marker }
	b2m := func(r bootRun) time.Duration { return r.Banner2Marker }
	b2h := func(r bootRun) time.Duration { return r.Banner2Handoff }
	// What follows warmboot's handoff line (kexec into the target kernel
	// and its boot to the marker) is the same work for both, since both
	// kexec_file_load the same kernel and initramfs: subtract it from
	// u-root's banner-to-marker to get its bootloader work.
	common := pick(wb, func(r bootRun) time.Duration { return r.Banner2Marker - r.Banner2Handoff })
	wbWork := pick(wb, func(r bootRun) time.Duration { return r.Phases["work"] })
	wbHost := pick(wb, b2h)
	urWork := pick(ur, b2m) - common

	var out strings.Builder
	fmt.Fprintf(&out, "| measure (median of %d, TCG) | warmboot | u-root boot | ratio |\n|---|---|---|---|\n", n)
	row := func(name string, a, c time.Duration) {
		fmt.Fprintf(&out, "| %s | %s | %s | %.2f |\n", name, a.Round(10*time.Millisecond), c.Round(10*time.Millisecond), float64(a)/float64(c))
	}
	row("QEMU start to target marker", pick(wb, s2m), pick(ur, s2m))
	row("init start to target marker", pick(wb, b2m), pick(ur, b2m))
	row("bootloader work, init start to kexec, no countdown", wbHost, urWork)
	// With a countdown, warmboot reads and loads the default entry while
	// it runs; the work a user waits for is what is left beyond it.
	row(fmt.Sprintf("bootloader work excluding a %ds countdown", countdown), pick(wbc, func(r bootRun) time.Duration { return r.Banner2Handoff - r.Phases["menu"] }), urWork)
	fmt.Fprintf(&out, "\nwarmboot phases (median, guest clock):")
	names := []string{"modules", "discover", "mount", "parse", "menu", "read", "load", "kexec", "work"}
	for _, name := range names {
		fmt.Fprintf(&out, " %s=%s", name, pick(wb, func(r bootRun) time.Duration { return r.Phases[name] }).Round(time.Millisecond))
	}
	_ = wbWork
	fmt.Fprintf(&out, "\n\n| image | cpio | zstd -19 |\n|---|---|---|\n")
	for _, im := range [][2]string{{"warmboot", image}, {"u-root core/init + boot/boot", peerImg}} {
		raw := strings.TrimSuffix(im[1], ".zst")
		fmt.Fprintf(&out, "| %s | %.2f MiB | %.2f MiB |\n", im[0], float64(fileSize(t, raw))/(1<<20), float64(fileSize(t, im[1]))/(1<<20))
	}
	t.Logf("\n%s", out.String())
	res := map[string]any{"n": n, "warmboot": wb, "warmboot_countdown": wbc, "uroot": ur, "table": out.String()}
	data, _ := json.MarshalIndent(res, "", "  ")
	os.WriteFile(filepath.Join("..", "out", "bench.json"), data, 0o644)
	os.WriteFile(filepath.Join("..", "out", "bench.md"), []byte(out.String()), 0o644)
}
