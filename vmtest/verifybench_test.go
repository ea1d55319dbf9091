package vmtest

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/verify"
	"github.com/warmboot/warmboot/images/disk"
)

// signDisk adds to every filesystem of d a signed manifest for each boot
// entry on it, as "warmsign sign -all" does on a mounted filesystem.
func signDisk(t testing.TB, d disk.Disk, key ed25519.PrivateKey) disk.Disk {
	for pi := range d.Parts {
		p := &d.Parts[pi]
		fsys := fstest.MapFS{}
		for name, f := range p.Files {
			data := f.Data
			if f.Src != "" {
				var err error
				if data, err = os.ReadFile(f.Src); err != nil {
					t.Fatal(err)
				}
			}
			fsys[strings.TrimPrefix(name, "/")] = &fstest.MapFile{Data: data}
		}
		m := choose.Rank(discover.ScanDir(fsys, ""))
		for i, e := range m.Entries {
			var dg verify.Digests
			dg.Kernel = sum(fsys[strings.TrimPrefix(e.Kernel, "/")].Data)
			for _, ird := range e.Initrds {
				dg.Initrds = append(dg.Initrds, sum(fsys[strings.TrimPrefix(ird, "/")].Data))
			}
			p.Files[fmt.Sprintf("/warmboot/%d.manifest", i)] = disk.File{Data: verify.ManifestFor(e, e.Cmdline, dg).Sign(key)}
		}
	}
	return d
}

// BenchmarkVerifiedBoot boots the demo disk, signed, WARMBOOT_BENCH_N
// times each with policy off, with policy enforce, and with enforce and a
// TPM (swtpm), interleaved, and reports the bootloader's phases: what
// verification and measurement add to a boot. Written to
// out/bench-verify.md.
func BenchmarkVerifiedBoot(b *testing.B) {
	var t testing.TB = b
	n := benchN(t)
	dimg := filepath.Join(t.TempDir(), "demo.img")
	if err := disk.Build(context.Background(), dimg, signDisk(t, disk.Demo(kernel, target, release), signKey)); err != nil {
		t.Fatal(err)
	}
	type variant struct {
		name string
		img  string
		tpm  bool
		runs []bootRun
	}
	vs := []*variant{{name: "policy off", img: image}, {name: "enforce", img: enforceImage}, {name: "enforce + TPM", img: enforceImage, tpm: true}}
	for i := 0; i < n; i++ {
		for _, v := range vs {
			var extra []string
			if v.tpm {
				extra = swtpmArgs(t)
			}
			v.runs = append(v.runs, bootOnceWith(t, v.img, dimg, extra))
		}
	}
	var out strings.Builder
	phases := []string{"read", "verify", "measure", "load", "work"}
	fmt.Fprintf(&out, "| warmboot phase (median of %d, TCG, guest clock) | %s |\n|---|%s\n", n, strings.Join(func() []string {
		var s []string
		for _, v := range vs {
			s = append(s, v.name)
		}
		return s
	}(), " | "), strings.Repeat("---|", len(vs)))
	for _, ph := range phases {
		fmt.Fprintf(&out, "| %s |", ph)
		for _, v := range vs {
			var ds []time.Duration
			for _, r := range v.runs {
				ds = append(ds, r.Phases[ph])
			}
			fmt.Fprintf(&out, " %s |", median(ds).Round(time.Millisecond))
		}
		out.WriteString("\n")
	}
	t.Logf("\n%s", out.String())
	os.WriteFile(filepath.Join("..", "out", "bench-verify.md"), []byte(out.String()), 0o644)
}
