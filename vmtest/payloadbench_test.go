package vmtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/images/disk"
)

// BenchmarkPayload boots the demo disk WARMBOOT_BENCH_N times, interleaved,
// with the payload (QEMU -kernel, no initrd) and with Debian's kernel and
// the image (-kernel, -initrd), same disk and flags, and reports the
// medians from QEMU's start to warmboot's start, to its menu and to the
// target's marker, with the sizes, in out/bench-payload.md.
func BenchmarkPayload(b *testing.B) {
	var t testing.TB = b
	n := benchN(t)
	dimg := filepath.Join(t.TempDir(), "demo.img")
	if err := disk.Build(context.Background(), dimg, disk.Demo(kernel, target, release)); err != nil {
		t.Fatal(err)
	}
	const (
		started = "warmboot: starting"
		menu    = "boot entries"
		done    = "WARMBOOT-TARGET-OK"
	)
	run := func(withPayload bool) [3]time.Duration {
		st := newStamps(started, menu, done)
		opts := []qemu.Fn{qemu.WithKernel(kernel), qemu.WithInitramfs(image)}
		if withPayload {
			opts = []qemu.Fn{qemu.WithKernel(payload)}
		}
		vm := qemu.StartT(t, "bench", qemu.ArchAMD64, append(opts,
			qemu.WithAppendKernel("console=ttyS0 quiet warmboot.timeout=0"),
			qemu.WithVMTimeout(4*time.Minute), qemu.WithSerialOutput(st),
			qemu.ArbitraryArgs("-no-reboot", "-drive", "file="+dimg+",if=virtio,format=raw,snapshot=on"))...)
		expect(t, vm, done)
		finish(t, vm, true)
		st.Close()
		return [3]time.Duration{st.at(t, started), st.at(t, menu), st.at(t, done)}
	}
	var pl, deb [3][]time.Duration
	for i := 0; i < n; i++ { // interleaved, so drift hits both alike
		for k, d := range run(true) {
			pl[k] = append(pl[k], d)
		}
		for k, d := range run(false) {
			deb[k] = append(deb[k], d)
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "| QEMU start to (median of %d, SeaBIOS, TCG) | payload | Debian kernel + image | payload faster by |\n|---|---|---|---|\n", n)
	for k, name := range []string{"warmboot starting", "the menu", "the target's marker"} {
		p, d := median(pl[k]), median(deb[k])
		fmt.Fprintf(&out, "| %s | %s | %s | %.2f× |\n", name, p.Round(10*time.Millisecond), d.Round(10*time.Millisecond), float64(d)/float64(p))
	}
	imgZst := fileSize(t, image)
	fmt.Fprintf(&out, "\n| size | bytes | MiB |\n|---|---|---|\n| payload (kernel with the image inside, as booted) | %d | %.2f |\n| Debian kernel + image (zstd), modules inside | %d + %d | %.2f |\n",
		fileSize(t, payload), float64(fileSize(t, payload))/(1<<20), fileSize(t, kernel), imgZst, float64(fileSize(t, kernel)+imgZst)/(1<<20))
	fmt.Fprintf(&out, "\npayload, each run: start %v menu %v marker %v\nDebian, each run: start %v menu %v marker %v\n", round(pl[0]), round(pl[1]), round(pl[2]), round(deb[0]), round(deb[1]), round(deb[2]))
	t.Logf("\n%s", out.String())
	os.WriteFile(filepath.Join("..", "out", "bench-payload.md"), []byte(out.String()), 0o644)
}
