// Package trial holds the rules that keep a bad kernel from stranding a
// server: which entry the bootloader boots given its state (package
// state), which boots are trials (armed with the watchdog and panic=N),
// what a failed trial leaves behind, and what blessing a boot records.
//
// The chain, in the order the bootloader applies it:
//
//  1. A trial recorded and not blessed, found by the bootloader on a boot
//     no running system asked for (no handoff), failed: the kernel
//     panicked (panic=N reset the machine), hung past its watchdog
//     deadline, or the machine was reset before "warmboot bless". It is
//     recorded as the last failure, an entry without a BLS counter gets
//     0 tries left, and the trial's fallback boots (the entry that was
//     running when warmswap started it, else last-known-good).
//  2. Else the one-shot next entry (warmswap -entry, also on a firmware
//     reboot) boots, once.
//  3. Else the default: the entry "warmboot bless" kept after a warm swap,
//     else the configs' own.
//  4. An entry with 0 tries left (a failed trial; a BLS "+0" entry ranks
//     last already) is passed over for last-known-good, or the next entry
//     that has tries, unless it is asked for by name.
//
// A boot is a trial when it was asked for (warmswap, the one-shot entry)
// and is not last-known-good, or when there is a last-known-good and it
// is another entry. BLS entries with a counter are tried as systemd-boot
// tries them (their file name counts) and armed with the watchdog too.
//
// Everything here is pure: callers read and write the state and the
// watchdog around it.
package trial

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/state"
)

// Config is how trials are armed.
type Config struct {
	// Deadline is the watchdog's timeout for a trial: the time it has to
	// come up and run "warmboot bless". 0 arms no watchdog.
	Deadline time.Duration
	// Panic is the N of the panic=N added to a trial's command line, so
	// a panicking kernel resets the machine instead of halting.
	Panic int
}

// Defaults: five minutes to bless (a server's services, not its POST), a
// panic resets after 10 s (time to read the oops on a console).
var Defaults = Config{Deadline: 5 * time.Minute, Panic: 10}

// Resolved is the bootloader's reading of the state at start.
type Resolved struct {
	State state.State
	// Changed says State differs from what was read and is written
	// before the kexec.
	Changed bool
	// Menu is the menu with its default chosen by the state.
	Menu  choose.Menu
	Notes []clog.Note
}

func clone(s state.State) state.State {
	s.TriesLeft = maps.Clone(s.TriesLeft)
	return s
}

// Resolve applies the chain to m. handoff says a running system
// re-entered the bootloader asking for an entry: a trial pending then is
// that system's own (it was up), not a failure.
func Resolve(s state.State, m choose.Menu, handoff bool, now time.Time) Resolved {
	r := Resolved{State: clone(s), Menu: m}
	say := func(warn bool, format string, a ...any) {
		r.Notes = append(r.Notes, clog.Note{Warning: warn, Msg: fmt.Sprintf(format, a...)})
	}
	st := &r.State
	if len(m.Entries) == 0 {
		return r
	}
	if t := s.Trial; t != nil && !handoff {
		why := "it did not run \"warmboot bless\" before the machine came back to the bootloader: it panicked, hung past its watchdog deadline, or was reset"
		st.LastFailure = &state.Failure{Attempt: *t, Seen: now, Why: why}
		st.Trial = nil
		r.Changed = true
		if i := m.Find(t.Entry.ID); i >= 0 && m.Entries[i].TriesLeft < 0 {
			if st.TriesLeft == nil {
				st.TriesLeft = map[string]int{}
			}
			st.TriesLeft[t.Entry.ID] = 0
		}
		fb := t.Fallback
		if fb == nil {
			fb = s.LastGood
		}
		say(true, "the trial of %q (started by %s at %s) failed: %s", t.Entry.ID, t.By, t.At.UTC().Format(time.RFC3339), why)
		i := -1
		if fb != nil {
			i = m.Find(fb.ID)
		}
		switch {
		case fb == nil:
		case fb.Is(t.Entry.ID):
			say(true, "its fallback is %q itself; passing it over", fb.ID)
		case i < 0:
			say(true, "its fallback %q is not on any disk; booting the default instead", fb.ID)
		default:
			r.Menu.Default = i
			say(false, "falling back to %q, the entry that last came up", m.Entries[i].Label)
			return r
		}
		r.Menu.Default = r.passOver(m.Default, t.Entry.ID)
		return r
	}
	if n := s.Next; n != nil && !handoff {
		if i := m.Find(n.Entry.ID); i >= 0 {
			r.Menu.Default = i
			say(false, "booting the one-shot next entry %q (asked by %s at %s)", m.Entries[i].Label, n.By, n.At.UTC().Format(time.RFC3339))
			return r
		}
		st.Next = nil
		r.Changed = true
		say(true, "the one-shot next entry %q is not on any disk; dropping it", n.Entry.ID)
	}
	if d := s.Default; d != nil {
		if i := m.Find(d.ID); i >= 0 {
			if i != m.Default {
				say(false, "default: %q, kept by \"warmboot bless\" after a warm swap (the configs' default is %q)", m.Entries[i].Label, m.Entries[m.Default].Label)
			}
			r.Menu.Default = i
		} else {
			say(true, "the default kept by \"warmboot bless\", %q, is not on any disk; using the configs' default", d.ID)
		}
	}
	if id := r.Menu.Entries[r.Menu.Default].ID; s.OutOfTries(id) {
		r.Menu.Default = r.passOver(r.Menu.Default, id)
	}
	return r
}

// passOver returns the entry to boot instead of def, whose trial failed:
// last-known-good, else the first entry in menu order with tries left.
func (r *Resolved) passOver(def int, failed string) int {
	m := r.Menu
	out := func(id string) bool {
		return id == failed || r.State.OutOfTries(id)
	}
	pick := -1
	if lg := r.State.LastGood; lg != nil {
		if i := m.Find(lg.ID); i >= 0 && !out(m.Entries[i].ID) {
			pick = i
		}
	}
	for _, i := range m.Order(def) {
		if pick >= 0 {
			break
		}
		if !out(m.Entries[i].ID) && m.Entries[i].TriesLeft != 0 {
			pick = i
		}
	}
	if pick < 0 || pick == def {
		return def
	}
	r.Notes = append(r.Notes, clog.Warningf("passing over %q: its last trial failed (boot it by name, e.g. warmswap -entry %s, to try it again); booting %q",
		m.Entries[def].Label, m.Entries[def].ID, m.Entries[pick].Label))
	return pick
}

// Boot is what booting an entry means for the state.
type Boot struct {
	// Trial: the boot is recorded as a trial (and needs the state
	// written); Arm: arm the watchdog for Deadline and add panic=Panic.
	Trial, Arm bool
	Deadline   time.Duration
	Panic      int
	// State is the state to write before the kexec when Trial or
	// Changed is set (Changed: the one-shot entry used up by a boot that
	// is no trial).
	State   state.State
	Changed bool
}

// Begin decides whether booting e (by: "warmboot", "warmswap -direct")
// is a trial and records it: requested says the entry was asked for (the
// handoff, the one-shot next entry, a warmswap target).
func Begin(s state.State, e entry.Entry, requested bool, by string, c Config, now time.Time) Boot {
	st := clone(s)
	b := Boot{State: st, Deadline: c.Deadline, Panic: c.Panic}
	counted := e.TriesLeft > 0 // a BLS counter: its name counts the attempt
	next := s.Next != nil && s.Next.Entry.Is(e.ID)
	trial := !s.LastGood.Is(e.ID) && (requested || next || s.LastGood != nil)
	if next {
		b.State.Next, st.Next, b.Changed = nil, nil, true // used up
	}
	if !trial {
		b.Arm = counted
		return b
	}
	a := state.Attempt{Entry: state.Ref{ID: e.ID, Source: e.Source}, At: now, By: by, Fallback: s.LastGood}
	switch {
	case next:
		a.By, a.Fallback = s.Next.By, s.Next.Fallback
		if a.Fallback == nil {
			a.Fallback = s.LastGood
		}
	case s.Trial != nil && s.Trial.Entry.Is(e.ID):
		a = *s.Trial
	}
	if c.Deadline > 0 {
		a.DeadlineSeconds = int(c.Deadline / time.Second)
	}
	if s.OutOfTries(e.ID) {
		delete(st.TriesLeft, e.ID) // asked for by name: one more try
	}
	st.Trial, st.LastAttempt = &a, &a
	b.Trial, b.Arm, b.State = true, true, st
	return b
}

// MarkGood records that the running entry came up ("warmboot bless"): it is last-known-good,
// its trial (if it was one) is over, and a trial a warm swap started is
// kept as the default. It returns what to say.
func MarkGood(s state.State, running state.Ref) (state.State, []clog.Note) {
	st := clone(s)
	var out []clog.Note
	if t := s.Trial; t != nil {
		if t.Entry.Is(running.ID) {
			out = append(out, clog.Notef("the trial of %q (started by %s at %s) succeeded", running.ID, t.By, t.At.UTC().Format(time.RFC3339)))
			if t.By != "warmboot" {
				st.Default = &running
				out = append(out, clog.Notef("%q is now the default", running.ID))
			}
		} else {
			out = append(out, clog.Notef("dropping the trial of %q: this system runs %q", t.Entry.ID, running.ID))
		}
		st.Trial = nil
	}
	delete(st.TriesLeft, running.ID)
	if len(st.TriesLeft) == 0 {
		st.TriesLeft = nil
	}
	st.LastGood = &running
	out = append(out, clog.Notef("%q is last-known-good", running.ID))
	return st, out
}

// Params are what a trial's command line gets, each unless the command
// line sets it already:
//
//   - panic=N, so that a panic resets the machine back into the
//     bootloader instead of halting it (none when c.Panic is 0);
//   - watchdog.open_timeout=D (the deadline): a driver that finds the
//     timer running (iTCO_wdt, most BMC watchdogs) hands it to the
//     kernel's watchdog core, which pings it only until userspace opens
//     it or D passes, instead of forever; "warmboot bless" opening it
//     then stops it, systemd's RuntimeWatchdogSec takes it over.
func Params(cmdline string, c Config) string {
	has := map[string]bool{}
	for _, f := range strings.Fields(cmdline) {
		k, _, _ := strings.Cut(f, "=")
		has[k] = true
	}
	var out []string
	if c.Panic > 0 && !has["panic"] {
		out = append(out, fmt.Sprintf("panic=%d", c.Panic))
	}
	if c.Deadline > 0 && !has["watchdog.open_timeout"] {
		out = append(out, fmt.Sprintf("watchdog.open_timeout=%d", int(c.Deadline/time.Second)))
	}
	return strings.Join(out, " ")
}

// ConfigFrom reads warmboot.deadline= (seconds, fractions allowed; 0 or
// less arms no watchdog) and warmboot.panic= (whole seconds, 0 for none)
// from a command line, over Defaults: the bootloader reads its own, and
// warmswap the one in the bootloader's cmdline file, so both plan the same
// trial. It also returns what it ignored, for the caller to say.
func ConfigFrom(cmdline string) (Config, []string) {
	c := Defaults
	var ignored []string
	for _, f := range strings.Fields(cmdline) {
		k, v, _ := strings.Cut(f, "=")
		switch k {
		case "warmboot.deadline":
			if n, err := strconv.ParseFloat(v, 64); err == nil {
				c.Deadline = time.Duration(n * float64(time.Second))
				continue
			}
		case "warmboot.panic":
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				c.Panic = n
				continue
			}
		default:
			continue
		}
		ignored = append(ignored, fmt.Sprintf("ignoring %s: not a number of seconds", f))
	}
	return c, ignored
}
