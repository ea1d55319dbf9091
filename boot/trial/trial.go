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
//     reboot) boots, once; else the one-shot entry systemd's Boot Loader
//     Interface asks for (bootctl set-oneshot: Context.OneShot).
//  3. Else the default: the entry "warmboot bless" kept after a warm swap,
//     while the configs' default is still the one it replaced (or it is
//     pinned), else the configs' own.
//  4. An entry with 0 tries left (a failed trial; a BLS "+0" entry ranks
//     last already) is passed over for last-known-good, or the next entry
//     that has tries, unless it is asked for by name.
//
// A boot is a trial when it was asked for (warmswap, the one-shot entry)
// and is not last-known-good, or when there is a last-known-good and it
// is another entry. Entries are known by what they boot (state.Ref.Boots:
// their kernel, initrds and command line), not by their id alone: an id
// such as Debian's gnulinux-simple boots another kernel after an upgrade.
// A boot nothing can record (Start.Unrecorded) is no trial: panic=N and
// a watchdog with nothing on disk to say the boot failed would boot it
// again and again. BLS entries with a counter are tried as systemd-boot
// tries them (their file name counts) and armed with the watchdog too.
//
// Everything here is pure: callers read and write the state and the
// watchdog around it.
package trial

import (
	"fmt"
	"maps"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
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
	Menu choose.Menu
	// OneShot says Context.OneShot is what boots: asked for, it is a
	// trial unless it is last-known-good (Start.Requested).
	OneShot bool
	Notes   []clog.Note
}

// Context is what Resolve knows besides the state and the menu.
type Context struct {
	// Handoff says a running system re-entered the bootloader asking for
	// an entry: a trial pending then is that system's own (it was up),
	// not a failure, and the one-shot entry is not for this boot.
	Handoff bool
	Now     time.Time
	// Boots is what entry i of the menu boots (state.Boots), "" when its
	// files cannot be read; called only where the state names an entry
	// by what it boots, and at most once per entry (Resolve remembers).
	Boots func(i int) string
	// Unrecorded, when not nil, is why nothing this boot decides can be
	// recorded (the state sits on a filesystem the bootloader does not
	// write): a one-shot entry that cannot be used up is then ignored, or
	// it would boot every time.
	Unrecorded error
	// OneShot, when not "", is the id of an entry asked to boot once
	// from outside the state: systemd's LoaderEntryOneShot (bootctl
	// set-oneshot), which the caller has already used up (removed), as
	// systemd-boot does whatever then boots. It ranks as the one-shot
	// next entry, just after it: a failed trial's fallback and a pending
	// next entry go first. Never with Handoff.
	OneShot string
}

func clone(s state.State) state.State {
	s.TriesLeft = maps.Clone(s.TriesLeft)
	s.Spent = maps.Clone(s.Spent)
	return s
}

// resolver is one Resolve: the digests of the menu's entries, taken once.
type resolver struct {
	Resolved
	c     Context
	boots map[int]string
}

func (r *resolver) say(warn bool, format string, a ...any) {
	r.Notes = append(r.Notes, clog.Note{Warning: warn, Msg: fmt.Sprintf(format, a...)})
}

func (r *resolver) bootsOf(i int) string {
	if b, ok := r.boots[i]; ok {
		return b
	}
	b := ""
	if r.c.Boots != nil {
		b = r.c.Boots(i)
	}
	r.boots[i] = b
	return b
}

// find is the entry ref names, by id and, when the ref knows it, by what
// it boots: the entry with its id booting the same, else any entry
// booting the same (a floating id such as Debian's gnulinux-simple now
// boots another kernel, and the one ref booted is under another id). It
// returns -1 when none does; moved says an entry with ref's id is there
// but boots something else.
func (r *resolver) find(ref *state.Ref) (i int, moved bool) {
	m := r.Menu
	i = m.Find(ref.ID)
	if ref.Boots == "" || i >= 0 && r.bootsOf(i) == ref.Boots {
		return i, false
	}
	for j := range m.Entries {
		if r.bootsOf(j) == ref.Boots {
			return j, false
		}
	}
	return -1, i >= 0
}

// Resolve applies the chain to m.
func Resolve(s state.State, m choose.Menu, c Context) Resolved {
	r := &resolver{Resolved: Resolved{State: clone(s), Menu: m}, c: c, boots: map[int]string{}}
	over := r.resolve(s)
	if c.OneShot != "" && !r.OneShot && len(m.Entries) > 0 {
		r.say(true, "not booting %q, which systemd's LoaderEntryOneShot asked for (bootctl set-oneshot): %s", c.OneShot, over)
	}
	return r.Resolved
}

// resolve applies the chain; over says why Context.OneShot is not what
// boots, when it is not.
func (r *resolver) resolve(s state.State) (over string) {
	m, c := r.Menu, r.c
	st := &r.State
	if len(m.Entries) == 0 {
		return ""
	}
	if t := s.Trial; t != nil && !c.Handoff {
		why := "it did not run \"warmboot bless\" before the machine came back to the bootloader: it panicked, hung past its watchdog deadline, or was reset"
		Fail(st, *t, c.Now, why, m.Find(t.Entry.ID) >= 0 && m.Entries[m.Find(t.Entry.ID)].TriesLeft < 0)
		r.Changed = true
		fb := t.Fallback
		if fb == nil {
			fb = s.LastGood
		}
		r.say(true, "the trial of %q (started by %s at %s) failed: %s", t.Entry.ID, t.By, t.At.UTC().Format(time.RFC3339), why)
		i, moved := -1, false
		if fb != nil {
			i, moved = r.find(fb)
		}
		switch {
		case fb == nil:
		case i >= 0 && m.Entries[i].ID == t.Entry.ID && (t.Entry.Boots == "" || r.bootsOf(i) == t.Entry.Boots):
			r.say(true, "its fallback %s is the entry that failed; passing it over", fb)
		case moved:
			r.say(true, "its fallback %s now boots something else (a kernel upgrade since?) and nothing boots what it booted; booting the default instead", fb)
		case i < 0:
			r.say(true, "its fallback %s is not on any disk; booting the default instead", fb)
		default:
			r.Menu.Default = i
			r.say(false, "falling back to %q, the entry that last came up", m.Entries[i].Label)
			return "the failed trial's fallback goes first"
		}
		r.Menu.Default = r.passOver(m.Default, t.Entry.ID)
		return "the failed trial's fallback goes first"
	}
	if n := s.Next; n != nil && !c.Handoff {
		i := m.Find(n.Entry.ID)
		switch {
		case i < 0:
			st.Next = nil
			r.Changed = true
			r.say(true, "the one-shot next entry %q is not on any disk; dropping it", n.Entry.ID)
		case c.Unrecorded != nil:
			r.say(true, "ignoring the one-shot next entry %q (asked by %s at %s): it cannot be used up (%v), so it would boot every time", m.Entries[i].Label, n.By, n.At.UTC().Format(time.RFC3339), c.Unrecorded)
		default:
			r.Menu.Default = i
			r.say(false, "booting the one-shot next entry %q (asked by %s at %s)", m.Entries[i].Label, n.By, n.At.UTC().Format(time.RFC3339))
			return fmt.Sprintf("warmboot's own one-shot next entry %q (asked by %s) goes first", m.Entries[i].Label, n.By)
		}
	}
	switch i := m.Find(c.OneShot); {
	case c.OneShot == "":
	case c.Handoff:
		over = "a running system handed over asking for an entry"
	case i < 0:
		over = "no entry has that id"
	default:
		r.Menu.Default, r.OneShot = i, true
		r.say(false, "systemd's LoaderEntryOneShot: booting %q once (bootctl set-oneshot)", m.Entries[i].Label)
		return ""
	}
	if d := s.Default; d != nil {
		r.kept(d)
	}
	if i := r.Menu.Default; s.OutOfTries(m.Entries[i].ID, r.bootsOf(i)) {
		r.Menu.Default = r.passOver(i, m.Entries[i].ID)
	}
	return over
}

// kept applies the default "warmboot bless" kept, d: while the configs'
// default is still the one it was kept over (or it is pinned), d is the
// default; once the configs' default changed (an upgrade, grubby
// --set-default, bootctl set-default), d gives way and is dropped.
func (r *resolver) kept(d *state.Kept) {
	m, st := r.Menu, &r.State
	i := m.Find(d.ID)
	cfg := m.Default
	switch {
	case i < 0:
		r.say(true, "the default kept by \"warmboot bless\", %q, is not on any disk; using the configs' default", d.ID)
		return
	case !d.Pinned && d.Over == nil:
		r.say(true, "the default kept by \"warmboot bless\", %q, was kept by an older warmboot that did not record the configs' default it replaced; dropping it for the configs' default %q (warmswap -commit -pin keeps a default for good)", d.ID, m.Entries[cfg].Label)
	case !d.Pinned && !d.Over.Is(m.Entries[cfg].ID, r.bootsOf(cfg)):
		r.say(false, "the configs' default changed since %q was kept as the default (it was %s; now %q): booting the configs' default (warmswap -commit -pin keeps a default for good)", d.ID, d.Over, m.Entries[cfg].Label)
	default:
		if i != cfg {
			how := "kept by \"warmboot bless\" after a warm swap"
			if d.Pinned {
				how = "pinned (warmswap -commit -pin, warmboot bless -pin)"
			}
			r.say(false, "default: %q, %s (the configs' default is %q)", m.Entries[i].Label, how, m.Entries[cfg].Label)
		}
		r.Menu.Default = i
		return
	}
	st.Default = nil
	r.Changed = true
}

// passOver returns the entry to boot instead of def, whose trial failed:
// last-known-good, else the first entry in menu order with tries left.
func (r *resolver) passOver(def int, failed string) int {
	m := r.Menu
	out := func(i int) bool {
		return m.Entries[i].ID == failed || r.State.OutOfTries(m.Entries[i].ID, r.bootsOf(i))
	}
	pick := -1
	if lg := r.State.LastGood; lg != nil {
		if i, _ := r.find(lg); i >= 0 && !out(i) {
			pick = i
		}
	}
	for _, i := range m.Order(def) {
		if pick >= 0 {
			break
		}
		if !out(i) && m.Entries[i].TriesLeft != 0 {
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

// Fail records in s that the trial t failed (seen at now, for why):
// the last failure, the trial over, and, for an entry that carries no BLS
// counter (uncounted), no tries left for what it booted.
func Fail(s *state.State, t state.Attempt, now time.Time, why string, uncounted bool) {
	s.LastFailure = &state.Failure{Attempt: t, Seen: now, Why: why}
	s.Trial = nil
	if !uncounted {
		return
	}
	if s.TriesLeft == nil {
		s.TriesLeft = map[string]int{}
	}
	s.TriesLeft[t.Entry.ID] = 0
	if t.Entry.Boots != "" {
		if s.Spent == nil {
			s.Spent = map[string]string{}
		}
		s.Spent[t.Entry.ID] = t.Entry.Boots
	}
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
	// Unguarded, when not "", is why a boot that would be a trial is
	// not: nothing could record it.
	Unguarded string
}

// Start is one boot Begin decides.
type Start struct {
	// Entry is what boots: its id, source and what it boots (Boots).
	Entry state.Ref
	// Counted says the entry carries a BLS counter that this boot counts
	// (its file renamed): the counter guards it, not the state.
	Counted bool
	// Uncounted says the entry carries no BLS counter (tries are kept in
	// the state).
	Uncounted bool
	// Requested says the entry was asked for (the handoff, a warmswap
	// target), which makes it a trial unless it is last-known-good.
	Requested bool
	// By names who boots: "warmboot", "warmswap -direct".
	By string
	// Over is the configs' default, recorded with a trial for the
	// default bless keeps after it (state.Kept.Over).
	Over *state.Ref
	// Unrecorded, when not nil, is why nothing can be recorded: the boot
	// is then no trial (no panic=, no watchdog), as nothing on disk
	// would say, after a reset, that it failed: it would boot again and
	// again.
	Unrecorded error
}

// Begin decides whether the boot b is a trial and records it.
func Begin(s state.State, b Start, c Config, now time.Time) Boot {
	st := clone(s)
	out := Boot{State: st, Deadline: c.Deadline, Panic: c.Panic}
	id := b.Entry.ID
	next := s.Next != nil && s.Next.Entry.ID == id
	trial := !s.LastGood.Is(id, b.Entry.Boots) && (b.Requested || next || s.LastGood != nil)
	if next && b.Unrecorded == nil {
		out.State.Next, st.Next, out.Changed = nil, nil, true // used up
	}
	if b.Unrecorded != nil {
		switch {
		case b.Counted:
			out.Arm = true // its file name counts the attempt
		case trial:
			out.Unguarded = fmt.Sprintf("%v: nothing on disk would say, after a reset, that the boot failed, so it is booted without panic=N or the watchdog (they would boot it again and again)", b.Unrecorded)
		}
		return out
	}
	if !trial {
		out.Arm = b.Counted
		return out
	}
	a := state.Attempt{Entry: b.Entry, At: now, By: b.By, Fallback: s.LastGood, Over: b.Over}
	switch {
	case next:
		a.By, a.Fallback, a.Firmware = s.Next.By, s.Next.Fallback, s.Next.Firmware
		if a.Fallback == nil {
			a.Fallback = s.LastGood
		}
		if s.Next.Over != nil {
			a.Over = s.Next.Over
		}
	case s.Trial != nil && s.Trial.Entry.Same(&b.Entry):
		a = *s.Trial
		a.Entry = b.Entry
	}
	if c.Deadline > 0 {
		a.DeadlineSeconds = int(c.Deadline / time.Second)
	}
	if s.OutOfTries(id, b.Entry.Boots) {
		delete(st.TriesLeft, id) // asked for by name: one more try
		delete(st.Spent, id)
	}
	st.Trial, st.LastAttempt = &a, &a
	out.Trial, out.Arm, out.State = true, true, st
	return out
}

// Good is what "warmboot bless" knows of the boot it blesses.
type Good struct {
	// Running is the entry running, by what it boots when that is known.
	Running state.Ref
	// Pin keeps a warm swap's target as the default for good
	// (warmswap -commit -pin), not only until the configs' default
	// changes.
	Pin bool
	Now time.Time
}

// MarkGood records that the running entry came up ("warmboot bless"): it
// is last-known-good; its trial, if it was one, is over, and a trial a
// warm swap started is kept as the default (until the configs' default
// changes, or for good with Pin). A trial of another entry failed (the
// machine came back to this one: through the firmware, which warmboot
// did not see). A one-shot entry still pending is dropped: it was not
// booted, and would otherwise override the default at every boot where it
// cannot be used up. It returns what to say.
func MarkGood(s state.State, g Good) (state.State, []clog.Note) {
	st := clone(s)
	running := g.Running
	var out []clog.Note
	if t := s.Trial; t != nil {
		// Known by what it boots: the running entry may be found under
		// another id that boots the same (GRUB's simple and advanced
		// entries of one kernel).
		if t.Entry.Same(&running) || running.Boots != "" && t.Entry.Boots == running.Boots {
			out = append(out, clog.Notef("the trial of %q (started by %s at %s) succeeded", running.ID, t.By, t.At.UTC().Format(time.RFC3339)))
			if t.By != "warmboot" || g.Pin {
				st.Default = &state.Kept{Ref: running, Over: t.Over, Pinned: g.Pin}
				if g.Pin {
					out = append(out, clog.Notef("%q is now the default, pinned: it stays the default after kernel upgrades until another swap is blessed", running.ID))
				} else {
					out = append(out, clog.Notef("%q is now the default, until the configs' default changes (an upgrade, grubby --set-default): warmswap -commit -pin keeps it for good", running.ID))
				}
			}
			st.Trial = nil
		} else {
			why := fmt.Sprintf("the machine came back up running %s instead: the trial panicked, hung or was reset, and the firmware's loader booted another entry", running.String())
			_, _, counted := bls.ParseCounter(path.Base(t.Entry.Source.File))
			Fail(&st, *t, g.Now, why, !counted)
			out = append(out, clog.Warningf("the trial of %s (started by %s at %s) failed: %s", t.Entry.String(), t.By, t.At.UTC().Format(time.RFC3339), why))
		}
	} else if g.Pin {
		st.Default = &state.Kept{Ref: running, Pinned: true}
		out = append(out, clog.Notef("%q is now the default, pinned", running.ID))
	}
	if n := s.Next; n != nil {
		st.Next = nil
		out = append(out, clog.Notef("dropping the one-shot next entry %q (asked by %s at %s): it was not booted", n.Entry.ID, n.By, n.At.UTC().Format(time.RFC3339)))
	}
	delete(st.TriesLeft, running.ID)
	delete(st.Spent, running.ID)
	if len(st.TriesLeft) == 0 {
		st.TriesLeft = nil
	}
	if len(st.Spent) == 0 {
		st.Spent = nil
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
