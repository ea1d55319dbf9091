package metrics

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// The file parses with Prometheus's own parser, and says what Counts
// say.
func TestRender(t *testing.T) {
	dir := t.TempDir()
	c := Counts{Version: Version, Restarts: map[string]uint64{"kexec": 3, "soft": 1}, Trials: 2, Fallbacks: 1, DeviceChecks: 1,
		LastSwap: map[string]float64{"stop": 4.5, "kexec": 0.25, "boot": 6}, Entry: `debian "6.1"`, Kernel: "6.1.0-57-amd64"}
	if err := Write(dir, c); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(dir, File))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(f)
	if err != nil {
		t.Fatalf("Prometheus's parser: %v", err)
	}
	value := func(name string, labels map[string]string) float64 {
		t.Helper()
		fam, ok := fams[name]
		if !ok {
			t.Fatalf("no %s", name)
		}
	next:
		for _, m := range fam.Metric {
			for _, l := range m.Label {
				if labels[l.GetName()] != l.GetValue() {
					continue next
				}
			}
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
		t.Fatalf("no %s%v", name, labels)
		return 0
	}
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"warmboot_restarts_total", map[string]string{"path": "kexec"}, 3},
		{"warmboot_restarts_total", map[string]string{"path": "soft"}, 1},
		{"warmboot_restarts_total", map[string]string{"path": "firmware"}, 0},
		{"warmboot_trials_total", nil, 2},
		{"warmboot_fallbacks_total", nil, 1},
		{"warmboot_device_check_failures_total", nil, 1},
		{"warmboot_last_swap_seconds", map[string]string{"phase": "stop"}, 4.5},
		{"warmboot_last_swap_seconds", map[string]string{"phase": "kexec"}, 0.25},
		{"warmboot_running_info", map[string]string{"entry": `debian "6.1"`, "kernel": "6.1.0-57-amd64"}, 1},
	} {
		if got := value(tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %g, want %g", tc.name, tc.labels, got, tc.want)
		}
	}
	// Nothing left beside it.
	es, _ := os.ReadDir(dir)
	if len(es) != 1 {
		t.Errorf("%d files in the directory, want only %s", len(es), File)
	}
	if err := Write(filepath.Join(dir, "missing"), c); err == nil {
		t.Errorf("Write to a missing directory succeeded")
	}
}
