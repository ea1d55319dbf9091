package bless

import (
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/metrics"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/timeline"
)

// observe counts what this bless sees (package metrics): the running
// entry, a trial and a fallback since the last bless, a device check
// failed, and the phases of the restart warmswap started. st is the boot
// state as read (nil when it was not). A metrics file that cannot be
// written is said; it changes nothing of the boot.
func observe(root string, log *slog.Logger, b handoff.Booted, st *state.State, o Options, lost bool) {
	now := o.Now()
	s := metrics.Seen{Now: now, KernelStart: now, Entry: b.Entry, DeviceLost: lost}
	if up, err := os.ReadFile(filepath.Join(root, "proc/uptime")); err == nil {
		if f := strings.Fields(string(up)); len(f) > 0 {
			if secs, err := strconv.ParseFloat(f[0], 64); err == nil {
				s.KernelStart = now.Add(-time.Duration(secs * float64(time.Second)))
			}
		}
	}
	rel, _ := os.ReadFile(filepath.Join(root, "proc/sys/kernel/osrelease"))
	s.Kernel = strings.TrimSpace(string(rel))
	if h := b.Handoff; h != nil {
		s.Handoff = h.Time
	}
	var tl timeline.Timeline
	if len(b.Timeline) > 0 && json.Unmarshal(b.Timeline, &tl) == nil {
		for _, p := range tl.Phases {
			s.Bootloader += p.Millis / 1000
		}
	}
	if st != nil {
		if a := st.LastAttempt; a != nil {
			s.TrialAt = a.At
		}
		if f := st.LastFailure; f != nil {
			s.FailureSeen = f.Seen
		}
	}
	file, err := metrics.Update(root, func(c *metrics.Counts) { c.Observe(s) })
	if err != nil {
		clog.Warnf(log, "metrics: %v", err)
	}
	if file != "" {
		log.Debug("metrics written", "file", file)
	}
}
