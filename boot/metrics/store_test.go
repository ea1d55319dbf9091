package metrics

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// A soft restart, a kexec, a fallback: the counts move as documented,
// once each, and the textfile appears only where node_exporter's
// directory exists.
func TestObserve(t *testing.T) {
	t0 := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	var c Counts
	c.Started("soft", t0, t0.Add(2*time.Second))
	// The bless after the soft reboot: same kernel (started long ago).
	c.Observe(Seen{Now: t0.Add(9 * time.Second), KernelStart: t0.Add(-time.Hour), Entry: "a", Kernel: "6.12"})
	if diff := cmp.Diff(map[string]float64{"checks": 2, "total": 7}, c.LastSwap); diff != "" || c.Pending != nil {
		t.Errorf("soft: last swap (-want +got):\n%s pending %+v", diff, c.Pending)
	}
	c.Started("kexec", t0.Add(time.Minute), t0.Add(time.Minute+3*time.Second))
	// A bless in the same boot (before the restart): the restart is
	// still pending.
	c.Observe(Seen{Now: t0.Add(time.Minute + 4*time.Second), KernelStart: t0.Add(-time.Hour)})
	if c.Pending == nil {
		t.Fatalf("a bless before the restart took it as done")
	}
	trial := t0.Add(time.Minute + 20*time.Second)
	c.Observe(Seen{Now: t0.Add(2 * time.Minute), KernelStart: t0.Add(time.Minute + 15*time.Second), TrialAt: trial, Bootloader: 2.5, Handoff: t0.Add(time.Minute + time.Second)})
	want := map[string]float64{"checks": 3, "stop_to_kernel": 12, "kernel_to_bless": 45, "total": 57, "bootloader": 2.5}
	if diff := cmp.Diff(want, c.LastSwap); diff != "" || c.Trials != 1 {
		t.Errorf("kexec: last swap (-want +got):\n%s trials %d", diff, c.Trials)
	}
	// The same trial seen again is not counted again; a failure is a
	// fallback, once.
	fail := t0.Add(3 * time.Minute)
	c.Observe(Seen{Now: t0.Add(4 * time.Minute), TrialAt: trial, FailureSeen: fail})
	c.Observe(Seen{Now: t0.Add(5 * time.Minute), TrialAt: trial, FailureSeen: fail, DeviceLost: true})
	if c.Trials != 1 || c.Fallbacks != 1 || c.DeviceChecks != 1 {
		t.Errorf("counts = %+v", c)
	}
	c.Started("firmware", t0, t0)
	c.Abandon()
	if c.Restarts["firmware"] != 0 || c.Pending != nil || c.Restarts["soft"] != 1 || c.Restarts["kexec"] != 1 {
		t.Errorf("after Abandon: %+v", c)
	}
}

func TestUpdate(t *testing.T) {
	root := t.TempDir()
	file, err := Update(root, func(c *Counts) { c.Started("kexec", time.Now(), time.Now()) })
	if err != nil || file != "" {
		t.Errorf("Update without node_exporter's directory = %q, %v; want no textfile", file, err)
	}
	dir := filepath.Join(root, DefaultDir)
	os.MkdirAll(dir, 0o755)
	if file, err = Update(root, func(c *Counts) {}); err != nil || file != filepath.Join(DefaultDir, File) {
		t.Errorf("Update = %q, %v", file, err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, File))
	if !strings.Contains(string(b), `warmboot_restarts_total{path="kexec"} 1`) {
		t.Errorf("textfile:\n%s", b)
	}
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, ConfigFile), []byte("/srv/metrics\n"), 0o644)
	if d, err := Dir(root); d != "/srv/metrics" || err != nil {
		t.Errorf("Dir = %q, %v", d, err)
	}
	os.WriteFile(filepath.Join(root, ConfigFile), []byte("off\n"), 0o644)
	if d, err := Dir(root); d != "" || err != nil {
		t.Errorf("Dir(off) = %q, %v", d, err)
	}
	os.WriteFile(filepath.Join(root, ConfigFile), []byte("metrics\n"), 0o644)
	if _, err := Dir(root); err == nil || !strings.Contains(err.Error(), ConfigFile) {
		t.Errorf("Dir(relative) = %v; want an error naming %s", err, ConfigFile)
	}
	os.WriteFile(filepath.Join(root, CountsFile), []byte("{torn"), 0o644)
	if _, err := Load(root); err == nil || !strings.Contains(err.Error(), "counting starts again from zero") {
		t.Errorf("Load(torn) = %v", err)
	}
}
