package ipxe

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzRun runs any script against a server where every .ipxe URL serves
// the same script (so chains recurse) and everything else is a kernel:
// no panic, no hang, bounded output, and a boot only of what can be
// fetched.
func FuzzRun(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.ipxe")
	for _, s := range seeds {
		b, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("#!ipxe\nkernel vmlinuz\ninitrd a.img\nchain x.ipxe || goto l\n:l\nboot\n"))
	f.Fuzz(func(t *testing.T, script []byte) {
		if len(script) > 64<<10 {
			return
		}
		probe := func(_ context.Context, u *url.URL) ([]byte, bool, error) {
			if strings.HasSuffix(u.Path, ".ipxe") {
				return script, true, nil
			}
			return nil, false, nil
		}
		var slept time.Duration
		sleep := func(_ context.Context, d time.Duration) error { slept += d; return nil }
		u, _ := url.Parse("http://10.0.2.2/boot.ipxe")
		r := Run(context.Background(), Config{Probe: probe, Sleep: sleep, Settings: map[string]string{"net0/mac": "52:54:00:12:34:56"}}, u, script)
		if slept > MaxSleep {
			t.Errorf("slept %s", slept)
		}
		if len(r.Warnings) > 100 || len(r.Echo) > 100 {
			t.Errorf("%d warnings, %d echoes", len(r.Warnings), len(r.Echo))
		}
		if b := r.Boot; b != nil {
			for _, k := range append([]*url.URL{b.Kernel}, b.Initrds...) {
				switch k.Scheme {
				case "http", "https", "tftp":
				default:
					t.Errorf("boots %s", k)
				}
			}
		}
	})
}
