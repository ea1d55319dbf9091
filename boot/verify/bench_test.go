package verify

import (
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

// BenchmarkVerifyVsSha256sum verifies a kernel of the largest size
// staging accepts (kexec.MaxKernel, 256 MiB: a bzImage header, then
// random bytes) the way warmsign and a running system's check do, with
// kexec.Digests and no digest cache (open, check the header, read and
// hash it all), then checks the signed manifest; and it runs coreutils'
// sha256sum on the same file, alternately in the same run, and reports
// both throughputs and their ratio. The file stays in the page cache, so
// this measures hashing, not the disk; nor does it measure the
// bootloader's staging, which also copies the bytes into a memfd.
func BenchmarkVerifyVsSha256sum(b *testing.B) {
	bin, err := exec.LookPath("sha256sum")
	if err != nil {
		b.Fatal(err)
	}
	const size = kexec.MaxKernel
	dir := b.TempDir()
	data := testtool.BzImage(size)
	rand.Read(data[0x268:]) // after the header CheckBzImage reads
	if err := os.WriteFile(filepath.Join(dir, "vmlinuz"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	pub, priv, _ := trust.Generate()
	tr := trust.Trust{Policy: trust.Enforce, Keys: []trust.Key{{Public: pub}}}
	e := entry.Entry{Kernel: "/vmlinuz", Cmdline: "quiet", Root: dir}
	digests := func() Digests {
		var d Digests
		var err error
		if d.Kernel, d.Initrds, err = kexec.Digests(e, nil); err != nil {
			b.Fatal(err)
		}
		return d
	}
	d := digests()
	set := Load(fstest.MapFS{"warmboot/k.manifest": {Data: ManifestFor(e, e.Cmdline, d).Sign(priv)}}, "", tr)
	var ours, theirs time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		d := digests()
		if _, err := set.Check(e, e.Cmdline, d, true); err != nil {
			b.Fatal(err)
		}
		ours += time.Since(start)
		start = time.Now()
		if out, err := exec.Command(bin, filepath.Join(dir, "vmlinuz")).Output(); err != nil || len(out) < 64 || string(out[:64]) != fmt.Sprintf("%x", d.Kernel) {
			b.Fatalf("sha256sum: %v %q", err, out)
		}
		theirs += time.Since(start)
	}
	mbps := func(d time.Duration) float64 { return float64(size) * float64(b.N) / (1 << 20) / d.Seconds() }
	b.ReportMetric(mbps(ours), "warmboot-MiB/s")
	b.ReportMetric(mbps(theirs), "sha256sum-MiB/s")
	b.ReportMetric(mbps(ours)/mbps(theirs), "ratio")
}
