// Package timeline times the bootloader's phases (modules, discover,
// mount, parse, menu, read, load, kexec) so every boot can report where
// its time went.
package timeline

import (
	"fmt"
	"strings"
	"sync"
	"time"
)

// Phase is one timed step.
type Phase struct {
	Name     string        `json:"name"`
	Duration time.Duration `json:"-"`
	// Millis is Duration in milliseconds, for the JSON form.
	Millis float64 `json:"ms"`
}

// Timeline records phases in the order they ran. A phase that runs more
// than once (read and load, when an entry fails and the next is tried)
// accumulates. Phases may overlap (the default entry is read and loaded
// during the menu countdown), so the total is wall-clock time, not their
// sum. It is safe for concurrent use.
type Timeline struct {
	Start  time.Time `json:"-"`
	Phases []Phase   `json:"phases"`
	now    func() time.Time
	mu     sync.Mutex
}

// New starts a timeline.
func New() *Timeline { return NewAt(time.Now) }

// NewAt starts a timeline on a given clock.
func NewAt(now func() time.Time) *Timeline { return &Timeline{Start: now(), now: now} }

// Begin starts timing a phase; call the returned function to end it.
func (t *Timeline) Begin(name string) (end func()) {
	start := t.now()
	return func() { t.Add(name, t.now().Sub(start)) }
}

// Add adds d to the phase called name.
func (t *Timeline) Add(name string, d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.Phases {
		if t.Phases[i].Name == name {
			t.Phases[i].Duration += d
			t.Phases[i].Millis = ms(t.Phases[i].Duration)
			return
		}
	}
	t.Phases = append(t.Phases, Phase{Name: name, Duration: d, Millis: ms(d)})
}

// Get returns the time spent in a phase.
func (t *Timeline) Get(name string) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, p := range t.Phases {
		if p.Name == name {
			return p.Duration
		}
	}
	return 0
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// String is the one-line summary printed before kexec:
// "modules=120ms discover=3ms ... total=6.9s work=1.9s", where total is
// the wall-clock time since Start and work is total less the menu wait:
// what the bootloader itself cost.
func (t *Timeline) String() string {
	menu := t.Get("menu")
	t.mu.Lock()
	defer t.mu.Unlock()
	var b strings.Builder
	for _, p := range t.Phases {
		fmt.Fprintf(&b, "%s=%s ", p.Name, round(p.Duration))
	}
	total := t.now().Sub(t.Start)
	fmt.Fprintf(&b, "total=%s work=%s", round(total), round(total-menu))
	return b.String()
}

func round(d time.Duration) time.Duration {
	if d >= 10*time.Millisecond {
		return d.Round(time.Millisecond)
	}
	return d.Round(10 * time.Microsecond)
}
