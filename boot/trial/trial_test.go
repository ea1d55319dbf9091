package trial

import (
	"errors"
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

func start(e entry.Entry, boots string, requested bool, by string) Start {
	return Start{Entry: state.Ref{ID: e.ID, Source: e.Source, Boots: boots}, Requested: requested, By: by,
		Counted: e.TriesLeft > 0, Uncounted: e.TriesLeft < 0}
}

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
		oneShot string // systemd's LoaderEntryOneShot
		want    string // the default chosen
		changed bool
		say     string
		used    bool // the systemd one-shot boots
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
		{name: "failed trial whose fallback is itself", s: state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "old"}, Fallback: ref("old")}}, want: "new", changed: true, say: `its fallback "old" is the entry that failed`},
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
		{name: "blessed default", s: state.State{Default: &state.Kept{Ref: *ref("new"), Over: ref("old")}, LastGood: ref("new")}, want: "new", say: "kept by"},
		{name: "an entry out of tries is passed over for last-known-good", s: state.State{TriesLeft: map[string]int{"old": 0}, LastGood: ref("rescue")}, want: "rescue", say: `passing over "OLD"`},
		{name: "tries left are not passed over", s: state.State{TriesLeft: map[string]int{"old": 1}}, want: "old"},
		{name: "systemd's one-shot", oneShot: "rescue", want: "rescue", used: true, say: `systemd's LoaderEntryOneShot: booting "RESCUE" once (bootctl set-oneshot)`},
		{name: "systemd's one-shot over a kept default and no tries", oneShot: "rescue", want: "rescue", used: true,
			s: state.State{Default: &state.Kept{Ref: *ref("new"), Over: ref("old")}, TriesLeft: map[string]int{"rescue": 0}, LastGood: ref("new")}},
		{name: "a failed trial's fallback before systemd's one-shot", s: state.State{Trial: trialNew, LastGood: ref("old")}, oneShot: "counted", want: "rescue", changed: true,
			say: `not booting "counted", which systemd's LoaderEntryOneShot asked for (bootctl set-oneshot): the failed trial's fallback goes first`},
		{name: "warmboot's one-shot before systemd's", s: state.State{Next: &state.Attempt{Entry: state.Ref{ID: "rescue"}, By: "warmswap"}}, oneShot: "new", want: "rescue",
			say: `not booting "new", which systemd's LoaderEntryOneShot asked for (bootctl set-oneshot): warmboot's own one-shot next entry "RESCUE" (asked by warmswap) goes first`},
		{name: "systemd's one-shot when warmboot's cannot be used up", s: state.State{Next: &state.Attempt{Entry: state.Ref{ID: "gone"}}}, oneShot: "new", want: "new", used: true, changed: true},
		{name: "systemd's one-shot gone from the disks", oneShot: "gone", want: "old", say: "no entry has that id"},
		{name: "not with a handoff", oneShot: "new", handoff: true, want: "old", say: "a running system handed over"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.s, menu(), Context{Handoff: tt.handoff, Now: now, OneShot: tt.oneShot})
			if got := r.Menu.Entries[r.Menu.Default].ID; got != tt.want {
				t.Errorf("boots %q, want %q\n%s", got, tt.want, notes(r))
			}
			if r.OneShot != tt.used {
				t.Errorf("OneShot = %v, want %v\n%s", r.OneShot, tt.used, notes(r))
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
			b := Begin(tt.s, start(m.Entries[tt.e], "", tt.requested, "warmboot"), c, now)
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
	b := Begin(state.State{LastGood: ref("new"), Next: &state.Attempt{Entry: state.Ref{ID: "new"}}}, start(m.Entries[1], "", true, "warmboot"), c, now)
	if b.Trial || !b.Changed || b.State.Next != nil {
		t.Errorf("one-shot last-known-good: %+v", b)
	}
	// An entry out of tries, asked for by name, gets its try back.
	b = Begin(state.State{TriesLeft: map[string]int{"new": 0}}, start(m.Entries[1], "", true, "warmswap"), c, now)
	if _, ok := b.State.TriesLeft["new"]; ok || !b.Trial {
		t.Errorf("asked for by name: %+v", b)
	}
}

func TestMarkGood(t *testing.T) {
	s := state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap"}, LastGood: ref("old"), TriesLeft: map[string]int{"new": 0, "x": 0}}
	got, said := MarkGood(s, Good{Running: state.Ref{ID: "new"}, Now: now})
	if got.Trial != nil || got.LastGood.ID != "new" || got.Default == nil || got.Default.ID != "new" || len(got.TriesLeft) != 1 {
		t.Errorf("blessed a warm swap's trial: %+v", got)
	}
	if len(said) != 3 || !strings.Contains(said[1].Msg, "now the default") || said[1].Warning {
		t.Errorf("said %+v", said)
	}
	// The bootloader's own trial (a new default from the configs) is
	// not pinned as the default: the configs stay in charge.
	got, _ = MarkGood(state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmboot"}}, Good{Running: state.Ref{ID: "new"}, Now: now})
	if got.Default != nil || got.LastGood.ID != "new" {
		t.Errorf("blessed the bootloader's trial: %+v", got)
	}
	// A trial of another entry than the one running failed: the
	// firmware's loader booted the fallback.
	got, said = MarkGood(state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new", Boots: "n1"}, By: "warmswap"}}, Good{Running: state.Ref{ID: "old"}, Now: now})
	if got.Trial != nil || got.Default != nil || got.LastFailure == nil || got.LastFailure.Entry.ID != "new" || !got.OutOfTries("new", "n1") || got.OutOfTries("new", "n2") || len(said) == 0 || !said[0].Warning || !strings.Contains(said[0].Msg, "failed") {
		t.Errorf("failed trial seen by bless: %+v %+v", got, said)
	}
	// The same id booting other contents is another entry: its trial failed.
	got, _ = MarkGood(state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "simple", Boots: "b"}, By: "warmswap"}}, Good{Running: state.Ref{ID: "simple", Boots: "a"}, Now: now})
	if got.LastFailure == nil || got.Default != nil {
		t.Errorf("trial of simple booting b, running simple booting a: %+v", got)
	}
	// Pinned, and kept over the configs' default.
	got, _ = MarkGood(state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap", Over: ref("old")}}, Good{Running: state.Ref{ID: "new"}, Pin: true, Now: now})
	if got.Default == nil || !got.Default.Pinned || got.Default.Over.ID != "old" {
		t.Errorf("pinned: %+v", got.Default)
	}
	// A pending one-shot is dropped: it would override the default at
	// every boot where it cannot be used up.
	got, said = MarkGood(state.State{Next: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap"}}, Good{Running: state.Ref{ID: "old"}, Now: now})
	if got.Next != nil || !strings.Contains(said[0].Msg, "dropping the one-shot") {
		t.Errorf("pending one-shot after bless: %+v %v", got.Next, said)
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

// Entries are known by what they boot: Debian's gnulinux-simple booting
// a new kernel is not the last-known-good it was, and a failed trial's
// fallback is found by its contents, under whatever id boots them now.
func TestByContents(t *testing.T) {
	c := Config{Deadline: time.Minute, Panic: 5}
	m := menu()
	old := &state.Ref{ID: "old", Boots: "A"}
	// The same id booting B is a trial; booting A is not.
	if b := Begin(state.State{LastGood: old}, start(m.Entries[0], "B", false, "warmboot"), c, now); !b.Trial || b.State.Trial.Entry.Boots != "B" || b.State.Trial.Fallback != old {
		t.Errorf("last-known-good's id booting other contents: %+v", b)
	}
	if b := Begin(state.State{LastGood: old}, start(m.Entries[0], "A", false, "warmboot"), c, now); b.Trial {
		t.Errorf("last-known-good booting the same: a trial: %+v", b)
	}
	// A failed trial whose fallback's id now boots the kernel that
	// failed: the entry booting what the fallback booted is chosen.
	boots := map[string]string{"old": "B", "new": "B2", "rescue": "A", "counted": "C"}
	ctx := Context{Now: now, Boots: func(i int) string { return boots[m.Entries[i].ID] }}
	s := state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "old", Boots: "B"}, By: "warmswap", Fallback: &state.Ref{ID: "old", Boots: "A"}}}
	r := Resolve(s, m, ctx)
	if got := r.Menu.Entries[r.Menu.Default].ID; got != "rescue" {
		t.Errorf("fallback by contents: boots %q, want rescue (which boots A)\n%s", got, notes(r))
	}
	// Nothing boots A any more: not the entry under the fallback's id.
	boots["rescue"] = "R"
	r = Resolve(s, m, ctx)
	if got := r.Menu.Entries[r.Menu.Default].ID; got == "old" || !strings.Contains(notes(r), "now boots something else") {
		t.Errorf("fallback moved: boots %q\n%s", got, notes(r))
	}
	// Out of tries for what failed only.
	s = state.State{TriesLeft: map[string]int{"old": 0}, Spent: map[string]string{"old": "B"}}
	if r := Resolve(s, m, ctx); r.Menu.Entries[r.Menu.Default].ID == "old" {
		t.Errorf("old booting B failed: not passed over\n%s", notes(r))
	}
	boots["old"] = "B3"
	if r := Resolve(s, m, ctx); r.Menu.Entries[r.Menu.Default].ID != "old" {
		t.Errorf("old now boots B3, not what failed: passed over\n%s", notes(r))
	}
}

// A kept default lasts until the configs' default changes; pinned, for
// good; kept by an older warmboot (no Over), it gives way.
func TestKeptDefault(t *testing.T) {
	m := menu()
	boots := map[string]string{"old": "A", "new": "N", "rescue": "R", "counted": "C"}
	ctx := Context{Now: now, Boots: func(i int) string { return boots[m.Entries[i].ID] }}
	kept := func(over *state.Ref, pinned bool) state.State {
		return state.State{Default: &state.Kept{Ref: state.Ref{ID: "rescue"}, Over: over, Pinned: pinned}}
	}
	for _, tt := range []struct {
		name    string
		s       state.State
		want    string
		changed bool
		say     string
	}{
		{"configs' default unchanged", kept(&state.Ref{ID: "old", Boots: "A"}, false), "rescue", false, "kept by"},
		{"configs' default upgraded (same id, new contents)", kept(&state.Ref{ID: "old", Boots: "A0"}, false), "old", true, "the configs' default changed"},
		{"configs' default set elsewhere", kept(&state.Ref{ID: "new"}, false), "old", true, "the configs' default changed"},
		{"pinned", kept(&state.Ref{ID: "new"}, true), "rescue", false, "pinned"},
		{"kept by an older warmboot", kept(nil, false), "old", true, "older warmboot"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := Resolve(tt.s, m, ctx)
			if got := r.Menu.Entries[r.Menu.Default].ID; got != tt.want || r.Changed != tt.changed || !strings.Contains(notes(r), tt.say) {
				t.Errorf("boots %q (changed %v), want %q (%v), saying %q:\n%s", got, r.Changed, tt.want, tt.changed, tt.say, notes(r))
			}
			if tt.changed && r.State.Default != nil {
				t.Errorf("the kept default was not dropped: %+v", r.State.Default)
			}
		})
	}
}

// Nothing loops where nothing can be recorded: a one-shot that cannot be
// used up is ignored, a trial is no trial (no panic=, no watchdog), a
// counted BLS entry is still guarded by its counter.
func TestUnrecorded(t *testing.T) {
	m := menu()
	why := errors.New("vda1 is xfs")
	s := state.State{Next: &state.Attempt{Entry: state.Ref{ID: "new"}, By: "warmswap"}}
	r := Resolve(s, m, Context{Now: now, Unrecorded: why})
	if got := r.Menu.Entries[r.Menu.Default].ID; got != "old" || !strings.Contains(notes(r), "it cannot be used up (vda1 is xfs)") {
		t.Errorf("one-shot on an unwritable disk: boots %q\n%s", got, notes(r))
	}
	c := Config{Deadline: time.Minute, Panic: 5}
	b := Begin(state.State{LastGood: ref("old")}, Start{Entry: state.Ref{ID: "new"}, Requested: true, Uncounted: true, Unrecorded: why}, c, now)
	if b.Trial || b.Arm || b.Unguarded == "" || b.Changed {
		t.Errorf("trial that cannot be recorded: %+v", b)
	}
	b = Begin(state.State{}, Start{Entry: state.Ref{ID: "counted"}, Counted: true, Unrecorded: why}, c, now)
	if b.Trial || !b.Arm {
		t.Errorf("counted entry, state unwritable: %+v; want armed (its counter counts)", b)
	}
}

// The same contents under another id (Debian's gnulinux-simple and the
// per-kernel entry that boots the same kernel) are last-known-good.
func TestSameContentsOtherID(t *testing.T) {
	c := Config{Deadline: time.Minute, Panic: 5}
	s := state.State{LastGood: &state.Ref{ID: "gnulinux-6.1.0-56-advanced", Boots: "A"}}
	if b := Begin(s, Start{Entry: state.Ref{ID: "gnulinux-simple", Boots: "A"}, Uncounted: true, By: "warmboot"}, c, now); b.Trial {
		t.Errorf("the same kernel under gnulinux-simple booted as a trial: %+v", b)
	}
}

// After a blessed swap to B (kept over the configs' default A), a kernel
// upgrade makes C the configs' default: the kept default gives way, and C
// boots as a trial (it is not last-known-good), its fallback B.
func TestUpgradeAfterBlessedSwap(t *testing.T) {
	m := menu() // old, new, rescue, counted; the configs' default is old
	boots := map[string]string{"old": "C", "new": "N", "rescue": "B", "counted": "X"}
	ctx := Context{Now: now, Boots: func(i int) string { return boots[m.Entries[i].ID] }}
	b := &state.Ref{ID: "rescue", Boots: "B"}
	s := state.State{LastGood: b, Default: &state.Kept{Ref: *b, Over: &state.Ref{ID: "old", Boots: "A"}}}
	r := Resolve(s, m, ctx)
	def := r.Menu.Entries[r.Menu.Default]
	if def.ID != "old" || r.State.Default != nil {
		t.Fatalf("after the upgrade: boots %q, kept default %+v\n%s", def.ID, r.State.Default, notes(r))
	}
	bt := Begin(r.State, start(def, boots[def.ID], false, "warmboot"), Config{Deadline: time.Minute, Panic: 5}, now)
	if !bt.Trial || !bt.Arm || bt.State.Trial.Fallback == nil || bt.State.Trial.Fallback.ID != "rescue" {
		t.Errorf("the upgraded default's boot: %+v", bt)
	}
}

// The running entry found under another id that boots the same contents
// (GRUB's simple and advanced entries of one kernel, told apart only by
// id) is the trial that came up, not a failure.
func TestMarkGoodSameContentsOtherID(t *testing.T) {
	tr := &state.Attempt{Entry: state.Ref{ID: "gnulinux-simple-u", Boots: "x"}, By: "warmswap"}
	st, notes := MarkGood(state.State{Trial: tr}, Good{Running: state.Ref{ID: "gnulinux-6.12-advanced-u", Boots: "x"}, Now: time.Unix(0, 0)})
	if st.Trial != nil || st.LastFailure != nil || len(notes) == 0 || !strings.Contains(notes[0].Msg, "succeeded") {
		t.Errorf("state %+v, notes %v; want the trial succeeded", st, notes)
	}
	st, _ = MarkGood(state.State{Trial: tr}, Good{Running: state.Ref{ID: "gnulinux-6.12-advanced-u", Boots: "y"}, Now: time.Unix(0, 0)})
	if st.LastFailure == nil {
		t.Errorf("another boot under another id: %+v; want the trial failed", st)
	}
}
