// Package metrics writes what warmboot's restarts did as a Prometheus
// text file for node_exporter's textfile collector (issue 24): restarts
// by path (kexec, soft, firmware), trials, fallbacks, device-check
// failures, the last swap's duration by phase, and the running entry.
// The counts are kept in a typed, versioned record (Counts) that crosses
// restarts; Render turns it into the exposition format, and Write
// replaces the file atomically so the collector never reads half of it.
package metrics

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultDir is Debian's prometheus-node-exporter textfile directory.
const DefaultDir = "/var/lib/prometheus/node-exporter"

// File is the file's name in the directory.
const File = "warmboot.prom"

// Version is Counts' version.
const Version = 1

// Counts are the counters and the last swap, as kept across restarts.
type Counts struct {
	Version int `json:"version"`
	// Restarts by path: "kexec", "soft", "firmware".
	Restarts map[string]uint64 `json:"restarts"`
	// Trials armed, fallbacks taken, device checks failed.
	Trials       uint64 `json:"trials"`
	Fallbacks    uint64 `json:"fallbacks"`
	DeviceChecks uint64 `json:"device_check_failures"`
	// LastSwap is the last swap's duration by phase, in seconds.
	LastSwap map[string]float64 `json:"last_swap,omitempty"`
	// Entry and Kernel name what runs.
	Entry  string `json:"entry,omitempty"`
	Kernel string `json:"kernel,omitempty"`
	// Pending is the restart warmswap started and the next bless has
	// not yet seen come up.
	Pending *Pending `json:"pending,omitempty"`
	// TrialSeen and FailureSeen are the last trial start and trial
	// failure bless counted (the boot state's last_attempt.at and
	// last_failure.seen), so that each is counted once.
	TrialSeen   time.Time `json:"trial_seen,omitzero"`
	FailureSeen time.Time `json:"failure_seen,omitzero"`
}

// Pending is a restart under way.
type Pending struct {
	// Path is "kexec", "soft" or "firmware".
	Path string `json:"path"`
	// Began is when warmswap started, Stopping when it handed over to
	// the shutdown (services start stopping).
	Began    time.Time `json:"began"`
	Stopping time.Time `json:"stopping"`
}

// Render is c in Prometheus's text exposition format.
func Render(c Counts) []byte {
	var b bytes.Buffer
	metric := func(name, typ, help string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	metric("warmboot_restarts_total", "counter", "Restarts by path: kexec (through warmboot), soft (systemd soft-reboot), firmware.")
	for _, p := range []string{"firmware", "kexec", "soft"} {
		fmt.Fprintf(&b, "warmboot_restarts_total{path=%q} %d\n", p, c.Restarts[p])
	}
	metric("warmboot_trials_total", "counter", "Trial boots armed (a new kernel that must be blessed).")
	fmt.Fprintf(&b, "warmboot_trials_total %d\n", c.Trials)
	metric("warmboot_fallbacks_total", "counter", "Boots that fell back to the last kernel that worked.")
	fmt.Fprintf(&b, "warmboot_fallbacks_total %d\n", c.Fallbacks)
	metric("warmboot_device_check_failures_total", "counter", "Kexecs after which a device that worked before did not.")
	fmt.Fprintf(&b, "warmboot_device_check_failures_total %d\n", c.DeviceChecks)
	if len(c.LastSwap) > 0 {
		metric("warmboot_last_swap_seconds", "gauge", "The last swap's duration by phase.")
		phases := make([]string, 0, len(c.LastSwap))
		for p := range c.LastSwap {
			phases = append(phases, p)
		}
		sort.Strings(phases)
		for _, p := range phases {
			fmt.Fprintf(&b, "warmboot_last_swap_seconds{phase=%s} %g\n", label(p), c.LastSwap[p])
		}
	}
	metric("warmboot_running_info", "gauge", "The entry and kernel running (always 1).")
	fmt.Fprintf(&b, "warmboot_running_info{entry=%s,kernel=%s} 1\n", label(c.Entry), label(c.Kernel))
	return b.Bytes()
}

// label quotes a label value as the exposition format escapes it.
func label(s string) string {
	r := strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// Write replaces dir/File with c, atomically: written beside it, synced,
// renamed over it.
func Write(dir string, c Counts) error {
	tmp, err := os.CreateTemp(dir, "."+File+".*")
	if err != nil {
		return fmt.Errorf("metrics: %w (is %s node_exporter's textfile directory? /etc/warmboot/metrics-dir names another, or off)", err, dir)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(Render(c)); err != nil {
		tmp.Close()
		return fmt.Errorf("metrics: writing %s: %w", tmp.Name(), err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("metrics: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, File)); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
