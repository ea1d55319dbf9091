package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// trials is the bootloader's side of package trial: the state read at
// start, where it lives, and how a trial is armed.
type trials struct {
	cfg trial.Config
	// st is the state as resolved; dirty says it changed and is written
	// before the kexec.
	st    state.State
	dirty bool
	// dev and file locate the state (found): a mounted device and the
	// path on it.
	dev, file string
	found     bool
	// requested is the entry a handoff asks for (its trial was asked).
	requested string
	// stateFS reads a mounted device; arm arms the watchdog.
	stateFS func(device string) fs.FS
	arm     func(time.Duration) (watchdog.Armed, error)
	disarm  func() error
	now     func() time.Time
	// armed says the watchdog runs for a kexec that has not happened.
	armed bool
}

// kexecFailed stops the watchdog armed for a kexec that failed: the
// shell that follows must not be reset under the operator.
func (b *booter) kexecFailed() {
	t := &b.trials
	if !t.armed {
		return
	}
	t.armed = false
	if err := t.disarm(); err != nil {
		b.warn("stopping the watchdog armed for the kexec: %v; the machine resets at the deadline", err)
		return
	}
	b.say("watchdog stopped: the kexec it was armed for did not happen")
}

// locate finds the state file: an existing one first, an ESP or
// XBOOTLDR partition (FAT, holding /EFI or /loader) first, then the
// filesystems of the entries in menu order (state.Path beside their
// configs); with none existing, the first of these. warmswap on the
// running system picks by the same preference (state.HostFile).
func (b *booter) locate(m choose.Menu) {
	t := &b.trials
	type cand struct{ dev, file string }
	var cands []cand
	seen := map[cand]bool{}
	add := func(c cand) {
		if !seen[c] && t.stateFS(c.dev) != nil {
			seen[c] = true
			cands = append(cands, c)
		}
	}
	devs := slices.Sorted(maps.Keys(b.mounts))
	for _, d := range devs {
		if b.mounts[d].FSType == "vfat" && t.stateFS(d) != nil && state.IsESP(t.stateFS(d)) {
			add(cand{d, "/" + state.Name})
		}
	}
	for _, i := range m.Order(m.Default) {
		src := m.Entries[i].Source
		add(cand{src.Device, state.Path(src.File)})
	}
	c, ok := state.Choose(cands, func(c cand) bool {
		_, err := fs.Stat(t.stateFS(c.dev), strings.TrimPrefix(c.file, "/"))
		return err == nil
	})
	if ok {
		t.dev, t.file, t.found = c.dev, c.file, true
	}
}

// resolveState reads the state and applies the fallback chain to m,
// saying on every console what it changes.
func (b *booter) resolveState(m choose.Menu) choose.Menu {
	t := &b.trials
	if len(m.Entries) == 0 {
		return m
	}
	b.locate(m)
	if !t.found {
		return m
	}
	st, err := state.Read(t.stateFS(t.dev), t.file)
	if err != nil {
		b.warn("boot state: %v", err)
		t.dirty = true // replace the bad file
	}
	r := trial.Resolve(st, m, b.handoff != nil, t.now())
	for _, n := range r.Notes {
		if n.Warning {
			b.warn("%s", n.Msg)
		} else {
			b.say("%s", n.Msg)
		}
	}
	t.st, t.dirty = r.State, t.dirty || r.Changed
	return r.Menu
}

// begin is what booting e now would record.
func (b *booter) begin(e entry.Entry) trial.Boot {
	t := &b.trials
	return trial.Begin(t.st, e, t.requested != "" && t.requested == e.ID, "warmboot", t.cfg, t.now())
}

// trialParams is what a trial's command line gets (trial.Params).
func (b *booter) trialParams(e entry.Entry, cmdline string) string {
	bt := b.begin(e)
	if !bt.Arm {
		return ""
	}
	return trial.Params(cmdline, b.trials.cfg)
}

// startTrial records the boot of e (when it is a trial, or the state
// changed) and arms the watchdog for it, just before the kexec.
func (b *booter) startTrial(e entry.Entry) {
	t := &b.trials
	bt := b.begin(e)
	recorded := !bt.Trial
	if bt.Trial || bt.Changed || t.dirty {
		if bt.Trial || bt.Changed {
			t.st = bt.State
		}
		err := errors.New("no filesystem with boot configs to keep it on")
		if t.found {
			err = b.writable(t.dev, func(r *os.Root) error { return state.Save(r, t.file, t.st) })
		}
		where := entry.Source{Device: t.dev, File: t.file}
		switch {
		case err != nil && bt.Trial:
			b.warn("trial: cannot record the trial of %q in %s: %v; booting it without the watchdog: if it fails, nothing brings the machine back to %s", e.Label, where, err, fallbackName(bt.State.Trial))
		case err != nil:
			b.warn("boot state: not saved in %s: %v", where, err)
		default:
			recorded = true
			t.dirty = false
			if bt.Trial {
				b.say("trial: %q recorded in %s; it is last-known-good once \"warmboot bless\" runs on it", e.Label, where)
			}
		}
	}
	if !bt.Arm || !recorded {
		return
	}
	fb := "the entry that last came up"
	if bt.Trial {
		fb = fallbackName(bt.State.Trial)
	}
	if bt.Deadline <= 0 {
		b.say("trial: watchdog off (warmboot.deadline=0): a panic resets the machine (panic=%d) and %s boots; a hang waits for a manual reset", bt.Panic, fb)
		return
	}
	a, err := t.arm(bt.Deadline)
	t.armed = err == nil
	if err != nil {
		b.warn("trial: no watchdog armed (%v): a panic resets the machine (panic=%d) and %s boots; a hang waits for a manual reset", err, bt.Panic, fb)
		return
	}
	b.say("trial: watchdog armed for %s (%s): unless \"warmboot bless\" stops it, the machine resets and %s boots", a.Timeout, a.Kexec, fb)
}

func fallbackName(a *state.Attempt) string {
	if a == nil || a.Fallback == nil {
		return "the next entry with tries left"
	}
	return fmt.Sprintf("%q", a.Fallback.ID)
}
