// Package bless is "warmboot bless" and "warmswap -commit": the running
// system came up, so its entry is last-known-good (package trial), a
// counted BLS entry gets the name systemd-bless-boot gives a good boot, and
// the watchdog a trial armed is stopped.
package bless

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/running"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Options are bless's choices.
type Options struct {
	// Pin keeps a warm swap's target as the default for good, not only
	// until the configs' default changes (warmswap -commit -pin).
	Pin bool
	Now func() time.Time
	// Devices are the device check's hooks (tests).
	Devices Devices
}

// Bless blesses the system under root ("/"), saying what it does on log.
// The running entry is known by booted.json when warmboot booted it,
// else by its kernel and command line (package running): a system the
// firmware's GRUB booted after a trial failed, or a kernel whose initrd
// lacks the hook that keeps booted.json. The watchdog is stopped even
// when the state cannot be saved: the system is up, and a reset would
// take it down for nothing.
func Bless(root string, log *slog.Logger, o Options) error {
	say := func(format string, a ...any) { clog.Infof(log, format, a...) }
	if o.Now == nil {
		o.Now = time.Now
	}
	b, err := handoff.ReadBooted(root)
	var src entry.Source
	var run state.Ref
	switch {
	case err == nil:
		if b.Version < handoff.BootedVersion {
			clog.Warnf(log, "this system was booted by a warmboot image older than this bless (its booted.json is version %d): that image reads boot state version 1 and takes the version %d written now for a corrupt file (losing last-known-good and the kept default); rebuild the image from this release and install it", b.Version, state.Version)
		}
		run, src = state.Ref{ID: b.Entry, Source: b.Source, Boots: b.Boots}, b.Source
	default:
		m, merr := running.HostMenu(root)
		if merr != nil {
			return fmt.Errorf("%w; and the boot entries cannot be read: %v: nothing to bless", err, merr)
		}
		r, how, ierr := running.Identify(root, m, nil)
		if ierr != nil {
			// Not an error: a system warmboot did not boot, whose
			// entry is not known, has nothing to bless.
			say("nothing to bless: %v, and %v", err, ierr)
			return nil
		}
		say("no booted.json (warmboot did not boot this system, or its initrd does not keep the record): the running entry is %s: %s", r.String(), how)
		run = r
	}
	// A kexec that lost a device is not blessed (package inventory).
	ran, lost := checkDevices(root, log, b, o)
	if lost != nil {
		if ran {
			observe(root, log, b, nil, o, true)
		}
		return lost
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	// A warmswap reading the state to record a swap goes first, or waits.
	unlock, lockErr := state.Lock(root)
	if lockErr != nil && !errors.Is(lockErr, state.ErrLockBusy) {
		clog.Warnf(log, "boot state: not locked (%v)", lockErr)
	}
	defer unlock()
	file := state.HostFile(root)
	st, err := state.Read(r.FS(), file)
	if err != nil {
		clog.Warnf(log, "%v", err)
	}
	// The watchdog is stopped only where a trial may have armed it: a
	// boot warmboot made, a trial pending, or a timer that runs. Opening
	// /dev/watchdog starts it, and a nowayout driver ignores the magic
	// close: on a machine no trial touched, bless leaves it alone.
	touchWatchdog := b.Entry != "" || st.Trial != nil || watchdogActive(root)
	var oneShots []*state.OneShot
	for _, a := range []*state.Attempt{st.Trial, st.Next} {
		if a != nil && a.Firmware != nil {
			oneShots = append(oneShots, a.Firmware)
		}
	}
	if errors.Is(lockErr, state.ErrLockBusy) {
		// What was read may be older than what the lock's holder is
		// about to write: nothing is written (neither the state nor a
		// counter nor a one-shot), only the watchdog is stopped.
		oneShots, src = nil, entry.Source{}
	}
	st, notes := trial.MarkGood(st, trial.Good{Running: run, Pin: o.Pin, Now: o.Now()})
	// Counted from the state as this bless leaves it: a trial it finds
	// failed (the firmware's loader booted another entry) is a fallback.
	seen, running := &st, b
	running.Entry = run.ID
	defer func() { observe(root, log, running, seen, o, false) }()
	saveErr := lockErr
	if !errors.Is(lockErr, state.ErrLockBusy) {
		saveErr = state.Save(r, file, st)
	}
	if saveErr != nil {
		// Not saved: the next bless sees the same trial and failure
		// again, and counts them then.
		seen = nil
	}
	if saveErr == nil {
		clog.Say(log, notes...)
	}
	for _, os := range oneShots {
		switch said, err := coldpath.Disarm(root, os); {
		case err != nil:
			clog.Warnf(log, "firmware path: %s: %v: clear it by hand (%s)", os, err, coldpath.ClearHint(os))
		case said != "":
			say("firmware path: %s", said)
		}
	}
	done, err := uncount(root, r, src)
	clog.Say(log, done...)
	if err != nil {
		clog.Warnf(log, "boot counting: %v", err)
	}
	if !touchWatchdog {
		say("no trial on this boot: the watchdog is left as it is")
		return saveErrWith(saveErr, run)
	}
	switch err := watchdog.Disarm(root); {
	case err == nil:
		say("watchdog stopped")
	case errors.Is(err, watchdog.ErrHeld):
		say("%v: left running, in its hands", err)
	case errors.Is(err, watchdog.ErrNone):
		say("no watchdog device: nothing to stop (if a trial armed one, load its driver, e.g. i6300esb or iTCO_wdt, before blessing, or the machine resets at the deadline)")
	default:
		return errors.Join(saveErr, fmt.Errorf("stopping the watchdog: %w", err))
	}
	return saveErrWith(saveErr, run)
}

// saveErrWith is bless's error when the state could not be saved.
func saveErrWith(err error, run state.Ref) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, state.ErrLockBusy):
		return fmt.Errorf("%w: %q is not recorded as last-known-good: run \"warmboot bless\" again once it is done", err, run.ID)
	}
	return fmt.Errorf("%w: %q is not recorded as last-known-good (is the state's filesystem mounted read-write?)", err, run.ID)
}

// watchdogActive says the watchdog's timer runs (its sysfs state).
func watchdogActive(root string) bool {
	b, err := os.ReadFile(filepath.Join(root, "sys/class/watchdog/watchdog0/state"))
	return err == nil && strings.TrimSpace(string(b)) == "active"
}

// uncount renames the running entry's BLS file, if it carries a boot
// counter, as systemd-bless-boot marks a good boot: the counter removed.
// It returns what it did, also when it fails part way.
// src is booted.json's: the file on the device the bootloader read it
// from, which the running system under root mounts where it chooses (a
// separate /boot, an ESP at /boot/efi or /efi, or / with /boot a
// directory, where the file starts with /boot); the mount table says
// where. A device that is not mounted is said, and its counter left. The
// bootloader renamed the file when it booted it, so the file is found by
// its base name.
func uncount(root string, r *os.Root, src entry.Source) ([]clog.Note, error) {
	if !strings.HasSuffix(src.File, ".conf") && !strings.HasSuffix(src.File, ".efi") {
		return nil, nil
	}
	base, _, ok := bls.ParseCounter(path.Base(src.File))
	if !ok {
		return nil, nil
	}
	if src.Device == "" {
		return nil, fmt.Errorf("%s names no device, so this system cannot tell where it is: its counter is left as it is", src)
	}
	mp, ok, err := discover.MountOf(root, src.Device)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s, which holds %s, is not mounted: its counter is left as it is (mount %s and run bless again)", src.Device, src.File, src.Device)
	}
	dir := path.Join(mp, path.Dir(src.File))
	d, err := r.Open(rootRel(dir))
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, err
	}
	var done []clog.Note
	for _, n := range names {
		if b, _, ok := bls.ParseCounter(n); ok && b == base && path.Ext(n) == path.Ext(src.File) {
			good := bls.Blessed(n)
			// Durably: a power cut after bless must not count the
			// next boot as one more try, nor (on FAT) leave the entry
			// an empty file (state.Rename).
			if err := state.Rename(r, rootRel(path.Join(dir, n)), rootRel(path.Join(dir, good))); err != nil {
				return done, err
			}
			done = append(done, clog.Notef("boot counting: %s is now %s, as systemd-bless-boot marks a good boot", path.Join(dir, n), good))
		}
	}
	return done, nil
}

// rootRel is the absolute path p relative to the root, as os.Root takes
// it.
func rootRel(p string) string {
	if p = strings.TrimPrefix(p, "/"); p == "" {
		return "."
	}
	return p
}
