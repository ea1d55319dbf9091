package loader

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Store is the boot state (package state) as read before a boot, and
// where it is kept.
type Store struct {
	State state.State
	// Dirty says the file on disk must be replaced even if the boot
	// changes nothing (it could not be read).
	Dirty bool
	// File is the state file's path under the root Write opens; Where
	// names it for messages ("vda1:/boot/warmboot/state").
	File, Where string
	// Write runs f on the root of the filesystem holding File, writable;
	// nil when there is no filesystem to keep the state on.
	Write func(f func(*os.Root) error) error
	// Unwritable, when not nil, is why Write would fail (the bootloader
	// does not write XFS, btrfs, RAID or LVM volumes, or a journal that
	// needs recovery): known before anything is decided, so that nothing
	// is decided that only a record would undo.
	Unwritable error
}

// unrecorded is why nothing can be recorded in s, or nil.
func (s *Store) unrecorded() error {
	switch {
	case s.Write == nil:
		return errors.New("no filesystem with boot configs to keep the boot state on")
	case s.Unwritable != nil:
		return fmt.Errorf("the boot state %s cannot be written: %w", s.Where, s.Unwritable)
	}
	return nil
}

// Files writes the filesystem of a device: the bootloader remounts one
// of the disks it mounted read-only, a running system writes where it
// mounted the device. Both count BLS entries and save grubenv through it.
type Files func(device string, f func(*os.Root) error) error

// Committer commits boots: everything that must happen before a kexec
// into an entry, in one order, for the bootloader and warmswap alike.
type Committer struct {
	// Config is how trials are armed (deadline, panic=N).
	Config trial.Config
	// By names who boots: "warmboot", "warmswap -direct".
	By string
	// Fallback, when set, is what a trial falls back to instead of
	// last-known-good: the entry running when warmswap -direct started
	// it.
	Fallback *state.Ref
	Now      func() time.Time
	// Files writes an entry's config filesystem (boot counting) and
	// grubenv's.
	Files Files
	// Writable says why Files cannot write a device, or nil; nil when
	// every device it is given is writable (a running system).
	Writable func(device string) error
	// Firmware is the one-shot entry warmswap set for the loader the
	// firmware starts (coldpath), recorded with the trial for bless.
	Firmware *state.OneShot
	// Chain is what the firmware starts, for the booted system's record
	// (handoff.Booted.Firmware).
	Chain string
	// PlanFirmware, when not nil, plans the one-shot entry that makes
	// the loader the firmware starts boot fallback once (package
	// coldpath), for a trial that has none yet: the bootloader's own
	// trials (a kernel upgrade's reboot) where the firmware starts GRUB.
	// SetFirmware sets it, after the trial is recorded and before the
	// watchdog is armed.
	PlanFirmware func(fallback *state.Ref) (*state.OneShot, error)
	SetFirmware  func(*state.OneShot) error
	// Over is the configs' default (before the state chose another),
	// recorded with a trial: a default kept after it gives way once the
	// configs' default is no longer this (state.Kept.Over).
	Over *state.Ref
	// Arm arms the hardware watchdog for a deadline.
	Arm func(time.Duration) (watchdog.Armed, error)
	// MustRecord: a trial that cannot be recorded is not committed at
	// all (nothing counted, saved or armed), so that the caller can
	// refuse the boot: warmswap -direct, which has stopped nothing yet.
	// The bootloader has to boot something, and boots it unguarded.
	MustRecord bool
	Log        *slog.Logger
}

// Boot is the decided boot of one entry: what its command line gets,
// what is recorded, what is armed. Decide makes it, without touching
// anything; Commit carries it out.
type Boot struct {
	Entry entry.Entry
	// Params are what the command line gets (panic=N,
	// watchdog.open_timeout=), after the policy checked the entry's own
	// command line, and measured with it.
	Params string
	// EnvWrites are the grubenv writes the GRUB configs made while they
	// ran (save_env next_entry), made when the boot is committed.
	EnvWrites []entry.EnvWrite
	// Kernel is the SHA-256 of the kernel file booted, for the booted
	// record (a device check that fails records the kernel).
	Kernel [32]byte
	by     string
	trial  trial.Boot
	boots  string
	chain  string
	// firmware is the one-shot this boot sets (PlanFirmware).
	firmware *state.OneShot
}

// Trial says the boot is a trial: recorded, guarded by panic=N and the
// watchdog until "warmboot bless".
func (b Boot) Trial() bool { return b.trial.Trial }

// State is the boot state the boot records (the trial, the one-shot
// entry used up).
func (b Boot) State() state.State { return b.trial.State }

// Cmdline is cmdline with the boot's Params.
func (b Boot) Cmdline(cmdline string) string {
	if b.Params == "" {
		return cmdline
	}
	return strings.TrimSpace(cmdline + " " + b.Params)
}

// Decide decides the boot of e with cmdline from the state in s
// (trial.Begin): boots is what it boots (state.Boots of its files and
// cmdline), asked says it was asked for (a handoff, a warmswap target),
// which makes it a trial unless it is last-known-good. A boot that
// nothing can record, neither the state nor a BLS counter, gets neither
// panic=N nor the watchdog: after a reset nothing would say it failed,
// and it would boot again and again.
func (c *Committer) Decide(s *Store, e entry.Entry, boots string, asked bool, cmdline string) Boot {
	b := Boot{Entry: e, by: c.By, boots: boots, chain: c.Chain}
	start := trial.Start{Entry: state.Ref{ID: e.ID, Source: e.Source, Boots: boots}, Requested: asked, By: c.By, Over: c.Over,
		Counted: e.Format == entry.BLS && e.TriesLeft > 0, Uncounted: e.TriesLeft < 0, Unrecorded: s.unrecorded()}
	if start.Counted && c.Writable != nil {
		if err := c.Writable(e.Source.Device); err != nil {
			start.Counted = false
			clog.Warnf(c.Log, "boot counting: %s cannot be counted (%v): it boots without panic=N or the watchdog, which would boot it again and again with its tries untouched", e.Source, err)
		}
	}
	b.trial = trial.Begin(s.State, start, c.Config, c.Now())
	if b.trial.Unguarded != "" {
		clog.Warnf(c.Log, "trial: %q is not guarded: %s", e.Label, b.trial.Unguarded)
	}
	if b.trial.Trial && c.Fallback != nil {
		b.trial.State.Trial.Fallback = c.Fallback
	}
	if b.trial.Trial && c.Firmware != nil {
		b.trial.State.Trial.Firmware = c.Firmware
	}
	if t := b.trial.State.Trial; b.trial.Trial && t.Firmware == nil && c.PlanFirmware != nil {
		switch o, err := c.PlanFirmware(t.Fallback); {
		case t.Fallback == nil:
			clog.Warnf(c.Log, "trial: the firmware starts %s, and no entry is known to have come up: a reset during the trial of %q boots what %s boots", c.Chain, e.Label, c.Chain)
		case err != nil:
			clog.Warnf(c.Log, "trial: %v: a reset during the trial of %q boots what %s boots, not %q", err, e.Label, c.Chain, t.Fallback.ID)
		default:
			t.Firmware, b.firmware = o, o
		}
	}
	if b.trial.Arm {
		b.Params = trial.Params(cmdline, c.Config)
	}
	return b
}

// Booted is the record the booted system gets (handoff.BootedFile):
// the entry, who booted it, the request that asked for it, the timeline.
func (b Boot) Booted(asked *handoff.Record, tl *timeline.Timeline) handoff.Booted {
	r := handoff.Booted{Entry: b.Entry.ID, Label: b.Entry.Label, Source: b.Entry.Source, Boots: b.boots, Firmware: b.chain, By: b.by, Handoff: asked}
	if b.Kernel != ([32]byte{}) {
		r.Kernel = hex.EncodeToString(b.Kernel[:])
	}
	if tl != nil {
		r.Timeline, _ = json.Marshal(tl) // a Timeline always marshals
	}
	return r
}

// Committed is what Commit did.
type Committed struct {
	// Recorded: the trial was written to the state (or the boot is no
	// trial); Counted: a BLS counter was renamed.
	Recorded, Counted bool
	// Armed: the watchdog runs for the kexec that follows; a failed
	// kexec must stop it (Disarm).
	Armed bool
}

// Commit carries out b, just before the kexec, in the one safe order:
// the state written (the trial, the one-shot entry used up), the BLS
// counter renamed (the attempt counted), GRUB's environment saved, and
// the watchdog armed last, only for what was recorded: a trial the state
// holds, or a counted entry whose attempt was counted. A reset that
// nothing on disk counts would boot the same entry again and again.
// Failures are said; the boot goes on.
func (c *Committer) Commit(s *Store, b Boot) Committed {
	var done Committed
	done.Recorded = c.record(s, b)
	if c.MustRecord && b.trial.Trial && !done.Recorded {
		return done
	}
	done.Counted = c.count(b.Entry)
	c.saveEnv(b.EnvWrites)
	if o := b.firmware; o != nil && done.Recorded && c.SetFirmware != nil {
		if err := c.SetFirmware(o); err != nil {
			clog.Warnf(c.Log, "firmware path: %v: a reset during the trial boots what the firmware's loader boots by default", err)
		} else {
			clog.Infof(c.Log, "%s", o.SetNote(fallbackOf(b.trial.State.Trial)))
		}
	}
	if !b.trial.Arm {
		return done
	}
	fb := "the entry that last came up"
	if b.trial.Trial {
		fb = fallbackOf(b.trial.State.Trial).FallbackName()
	}
	switch {
	case b.trial.Trial && !done.Recorded:
		return done // record said so
	case !b.trial.Trial && !done.Counted:
		clog.Warnf(c.Log, "boot counting: no watchdog armed: the attempt is not counted, so a reset would boot the entry again with its tries untouched; a panic resets the machine (panic=%d)", b.trial.Panic)
		return done
	}
	if b.trial.Deadline <= 0 {
		clog.Infof(c.Log, "trial: watchdog off (warmboot.deadline=0): a panic resets the machine (panic=%d) and %s boots; a hang waits for a manual reset", b.trial.Panic, fb)
		return done
	}
	a, err := c.Arm(b.trial.Deadline)
	if err != nil {
		clog.Warnf(c.Log, "trial: no watchdog armed (%v): a panic resets the machine (panic=%d) and %s boots; a hang waits for a manual reset", err, b.trial.Panic, fb)
		return done
	}
	done.Armed = true
	clog.Infof(c.Log, "trial: watchdog armed for %s (%s): unless \"warmboot bless\" stops it, the machine resets and %s boots", a.Timeout, a.Kexec, fb)
	return done
}

// record writes the state when the boot is a trial, uses up the one-shot
// entry, or the file must be replaced. It says whether the boot is
// recorded as it must be (a trial in the state; anything else needs no
// record).
func (c *Committer) record(s *Store, b Boot) bool {
	bt := b.trial
	if !bt.Trial && !bt.Changed && !s.Dirty {
		return true
	}
	if bt.Trial || bt.Changed {
		s.State = bt.State
	}
	err := errors.New("no filesystem with boot configs to keep it on")
	if s.Write != nil {
		err = s.Write(func(r *os.Root) error { return state.Save(r, s.File, s.State) })
	}
	switch {
	case err != nil && bt.Trial && c.MustRecord:
		clog.Warnf(c.Log, "trial: cannot record the trial of %q in %s: %v", b.Entry.Label, s.Where, err)
		return false
	case err != nil && bt.Trial:
		clog.Warnf(c.Log, "trial: cannot record the trial of %q in %s: %v; booting it without the watchdog: if it fails, nothing brings the machine back to %s", b.Entry.Label, s.Where, err, fallbackOf(bt.State.Trial).FallbackName())
		return false
	case err != nil:
		clog.Warnf(c.Log, "boot state: not saved in %s: %v", s.Where, err)
		return true
	}
	s.Dirty = false
	if bt.Trial {
		clog.Infof(c.Log, "trial: %q recorded in %s; it is last-known-good once \"warmboot bless\" runs on it", b.Entry.Label, s.Where)
	}
	return true
}

// count counts the boot about to happen as systemd-boot does for an
// entry whose file name carries a Boot Loader Specification counter
// ("NAME+LEFT-DONE.conf"): the file is renamed with one try less and one
// more done, so an entry that never comes up to bless itself runs out of
// tries and ranks last. A filesystem that cannot be written (a journal
// needing recovery, RAID, LVM) is said and the boot goes on uncounted.
func (c *Committer) count(e entry.Entry) bool {
	if e.Format != entry.BLS || e.TriesLeft < 0 {
		return false
	}
	file := e.Source.File
	next, ok := bls.Attempted(path.Base(file))
	if !ok {
		return false
	}
	nextFile := path.Join(path.Dir(file), next)
	err := c.Files(e.Source.Device, func(r *os.Root) error {
		return state.Rename(r, strings.TrimPrefix(file, "/"), strings.TrimPrefix(nextFile, "/"))
	})
	src := entry.Source{Device: e.Source.Device, File: file}
	if err != nil {
		clog.Warnf(c.Log, "boot counting: not counting this attempt of %s: %v", src, err)
		return false
	}
	_, n, _ := bls.ParseCounter(next)
	clog.Infof(c.Log, "boot counting: %s is now %s (tries left after this one: %d)", src, next, n.Left)
	return true
}

// saveEnv makes the grubenv writes the GRUB configs made while they ran
// (save_env next_entry: GRUB's one-shot entry is used up), in place, as
// GRUB rewrites its environment block: same size, never re-created.
func (c *Committer) saveEnv(ws []entry.EnvWrite) {
	for _, w := range ws {
		err := c.Files(w.File.Device, func(r *os.Root) error {
			return grubenv.EditFile(r, w.File.File, func(old []byte) ([]byte, error) {
				if w.Unset {
					return grubenv.Unset(old, w.Name)
				}
				return grubenv.Set(old, w.Name, w.Value)
			}, false)
		})
		if err != nil {
			clog.Warnf(c.Log, "grubenv: not saving %s in %s: %v", w.Name, w.File, err)
			continue
		}
		clog.Infof(c.Log, "grubenv: saved %s=%q in %s, as GRUB does", w.Name, w.Value, w.File)
	}
}

// fallbackOf is a's fallback: nil where there is no attempt, or it names none.
func fallbackOf(a *state.Attempt) *state.Ref {
	if a == nil {
		return nil
	}
	return a.Fallback
}
