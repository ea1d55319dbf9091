package trial

import (
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/state"
)

var now = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// menu is old (the configs' default), new, rescue, and counted (a BLS
// entry with 2 tries left).
func menu() choose.Menu {
	e := func(id string, tries int) entry.Entry {
		return entry.Entry{ID: id, Label: strings.ToUpper(id), TriesLeft: tries, Source: entry.Source{Device: "vda1", File: "/loader/entries/" + id + ".conf"}}
	}
	return choose.Menu{Entries: []entry.Entry{e("old", -1), e("new", -1), e("rescue", -1), e("counted", 2)}}
}

func ref(id string) *state.Ref { return &state.Ref{ID: id} }

func notes(r Resolved) string {
	var b strings.Builder
	for _, n := range r.Notes {
		b.WriteString(n.Msg + "\n")
	}
	return b.String()
}

func TestResolve(t *testing.T) {
	trialNew := &state.Attempt{Entry: state.Ref{ID: "new"}, At: now.Add(-time.Minute), By: "warmswap", Fallback: ref("rescue")}
	for _, tt := range []struct {
		name    string
		s       state.State
		handoff bool
		want    string // the default chosen
		changed bool
		say     string
		check   func(t *testing.T, s state.State)
	}{
		{name: "empty", want: "old"},
		{name: "failed trial boots its fallback", s: state.State{Trial: trialNew, LastGood: ref("old")}, want: "rescue", changed: true,
			say: `the trial of "new" (started by warmswap at 2026-11-30T11:59:00Z) failed`,
			check: func(t *testing.T, s state.State) {
				if s.Trial != nil || s.LastFailure == nil || s.LastFailure.Entry.ID != "new" || s.TriesLeft["new"] != 0 || len(s.TriesLeft) != 1 {
					t.Errorf("state after a failed trial: %+v", s)
				}
			}},
		{name: "failed trial without fallback boots last-known-good", s: state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "old"}, By: "warmboot"}, LastGood: ref("rescue")}, want: "rescue", changed: true},
		{name: "failed trial whose fallback is itself", s: state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "old"}, Fallback: ref("old")}}, want: "new", changed: true, say: `its fallback is "old" itself`},
		{name: "failed trial, nothing known good: passes over it", s: state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "old"}, By: "warmboot"}}, want: "new", changed: true, say: `passing over "OLD"`},
		{name: "failed BLS-counted trial keeps its counter", s: state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "counted"}, By: "warmboot"}, LastGood: ref("old")}, want: "old", changed: true,
			check: func(t *testing.T, s state.State) {
				if _, ok := s.TriesLeft["counted"]; ok {
					t.Errorf("a BLS-counted entry got tries in the state file: %v", s.TriesLeft)
				}
			}},
		{name: "the handoff's own trial is not a failure", s: state.State{Trial: trialNew}, handoff: true, want: "old"},
		{name: "one-shot next entry", s: state.State{Next: &state.Attempt{Entry: state.Ref{ID: "rescue"}, By: "warmswap"}}, want: "rescue", say: "one-shot"},
		{name: "one-shot gone from the disks", s: state.State{Next: &state.Attempt{Entry: state.Ref{ID: "gone"}}}, want: "old", changed: true,
			check: func(t *testing.T, s state.State) {
				if s.Next != nil {
					t.Error("Next kept")
				}
			}},
		{name: "blessed default", s: state.State{Default: ref("new"), LastGood: ref("new")}, want: "new", say: "kept by"},
		{name: "an entry out of tries is passed over for last-known-good", s: state.State{TriesLeft: map[string]int{"old": 0}, LastGood: ref("rescue")}, want: "rescue", say: `passing over "OLD"`},
		{name: "tries left are not passed over", s: state.State{TriesLeft: map[string]int{"old": 1}}, want: "old"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.s, menu(), tt.handoff, now)
			if got := r.Menu.Entries[r.Menu.Default].ID; got != tt.want {
				t.Errorf("boots %q, want %q\n%s", got, tt.want, notes(r))
			}
			if r.Changed != tt.changed {
				t.Errorf("Changed = %v, want %v", r.Changed, tt.changed)
			}
			if !strings.Contains(notes(r), tt.say) {
				t.Errorf("notes:\n%s\nwant %q", notes(r), tt.say)
			}
			if tt.check != nil {
				tt.check(t, r.State)
			}
		})
	}
}

func TestBegin(t *testing.T) {
	m := menu()
	c := Config{Deadline: 90 * time.Second, Panic: 5}
	for _, tt := range []struct {
		name       string
		s          state.State
		e          int
		requested  bool
		trial, arm bool
		fallback   string
	}{
		{name: "no state, not asked: an ordinary boot", e: 0},
		{name: "last-known-good is not a trial", s: state.State{LastGood: ref("old")}, e: 0},
		{name: "another entry than last-known-good is", s: state.State{LastGood: ref("old")}, e: 1, trial: true, arm: true, fallback: "old"},
		{name: "asked for, nothing known good", e: 1, requested: true, trial: true, arm: true},
		{name: "asked for last-known-good", s: state.State{LastGood: ref("new")}, e: 1, requested: true},
		{name: "one-shot carries its fallback", s: state.State{Next: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap", Fallback: ref("rescue")}}, e: 1, trial: true, arm: true, fallback: "rescue"},
		{name: "BLS counter: armed, counted by name", e: 3, arm: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := Begin(tt.s, m.Entries[tt.e], tt.requested, "warmboot", c, now)
			if b.Trial != tt.trial || b.Arm != tt.arm {
				t.Fatalf("Trial, Arm = %v, %v; want %v, %v", b.Trial, b.Arm, tt.trial, tt.arm)
			}
			if !b.Trial {
				return
			}
			a := b.State.Trial
			if a == nil || a.Entry.ID != m.Entries[tt.e].ID || a.DeadlineSeconds != 90 || b.State.Next != nil || b.State.LastAttempt == nil {
				t.Fatalf("recorded %+v (next %+v)", a, b.State.Next)
			}
			if got := ""; a.Fallback != nil {
				got = a.Fallback.ID
				if got != tt.fallback {
					t.Errorf("fallback %q, want %q", got, tt.fallback)
				}
			} else if tt.fallback != "" {
				t.Errorf("no fallback, want %q", tt.fallback)
			}
		})
	}
	// The one-shot entry is used up even when it is last-known-good (no
	// trial then).
	b := Begin(state.State{LastGood: ref("new"), Next: &state.Attempt{Entry: state.Ref{ID: "new"}}}, m.Entries[1], true, "warmboot", c, now)
	if b.Trial || !b.Changed || b.State.Next != nil {
		t.Errorf("one-shot last-known-good: %+v", b)
	}
	// An entry out of tries, asked for by name, gets its try back.
	b = Begin(state.State{TriesLeft: map[string]int{"new": 0}}, m.Entries[1], true, "warmswap", c, now)
	if _, ok := b.State.TriesLeft["new"]; ok || !b.Trial {
		t.Errorf("asked for by name: %+v", b)
	}
}

func TestMarkGood(t *testing.T) {
	s := state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap"}, LastGood: ref("old"), TriesLeft: map[string]int{"new": 0, "x": 0}}
	got, said := MarkGood(s, state.Ref{ID: "new"})
	if got.Trial != nil || !got.LastGood.Is("new") || !got.Default.Is("new") || len(got.TriesLeft) != 1 {
		t.Errorf("blessed a warm swap's trial: %+v", got)
	}
	if len(said) != 3 || !strings.Contains(said[1].Msg, "now the default") || said[1].Warning {
		t.Errorf("said %+v", said)
	}
	// The bootloader's own trial (a new default from the configs) is
	// not pinned as the default: the configs stay in charge.
	got, _ = MarkGood(state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmboot"}}, state.Ref{ID: "new"})
	if got.Default != nil || !got.LastGood.Is("new") {
		t.Errorf("blessed the bootloader's trial: %+v", got)
	}
	// A trial of another entry than the one running is stale.
	got, said = MarkGood(state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap"}}, state.Ref{ID: "old"})
	if got.Trial != nil || got.Default != nil || len(said) == 0 || !strings.Contains(said[0].Msg, "dropping") {
		t.Errorf("stale trial: %+v %+v", got, said)
	}
}

func TestParams(t *testing.T) {
	c, ignored := ConfigFrom("quiet warmboot.deadline=45 warmboot.panic=3 warmboot.wait=2")
	if c.Deadline != 45*time.Second || c.Panic != 3 || ignored != nil {
		t.Errorf("ConfigFrom = %+v, %q", c, ignored)
	}
	if c, ignored := ConfigFrom("warmboot.deadline=x warmboot.panic=-1"); c != Defaults || len(ignored) != 2 || ignored[0] != "ignoring warmboot.deadline=x: not a number of seconds" {
		t.Errorf("bad values: %+v, %q; want the defaults, both named", c, ignored)
	}
	if c, _ := ConfigFrom("warmboot.deadline=0"); c.Deadline != 0 {
		t.Errorf("warmboot.deadline=0: %+v, want no watchdog", c)
	}
	if got := Params("root=/dev/sda1 quiet", c); got != "panic=3 watchdog.open_timeout=45" {
		t.Errorf("Params = %q", got)
	}
	if got := Params("root=/dev/sda1 panic=30", c); got != "watchdog.open_timeout=45" {
		t.Errorf("Params with the entry's own panic= = %q", got)
	}
	if got := Params("quiet", Config{}); got != "" {
		t.Errorf("Params with no panic and no deadline = %q", got)
	}
}
