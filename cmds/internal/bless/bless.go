// Package bless is "warmboot bless" and "warmswap -commit": the running
// system came up, so its entry is last-known-good (package trial), a
// counted BLS entry gets the name systemd-bless-boot gives a good boot, and
// the watchdog a trial armed is stopped.
package bless

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Bless blesses the system under root ("/"), saying what it does.
func Bless(root string, say func(format string, a ...any)) error {
	b, err := handoff.ReadBooted(root)
	if err != nil {
		return fmt.Errorf("%w: nothing to bless", err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return err
	}
	defer r.Close()
	file := state.HostFile(root)
	st, err := state.Read(r.FS(), file)
	if err != nil {
		say("%v", err)
	}
	st, said := trial.Bless(st, state.Ref{ID: b.Entry, Source: b.Source})
	if err := state.Save(r, file, st); err != nil {
		return fmt.Errorf("%w (is /boot mounted read-write?)", err)
	}
	for _, s := range said {
		say("%s", s)
	}
	if err := blessBLS(r, b.Source.String(), say); err != nil {
		say("boot counting: %v", err)
	}
	switch err := watchdog.Disarm(root); {
	case err == nil:
		say("watchdog stopped")
	case errors.Is(err, watchdog.ErrHeld):
		say("%v: left running, in its hands", err)
	case errors.Is(err, watchdog.ErrNone):
		say("no watchdog device: nothing to stop (if a trial armed one, load its driver, e.g. i6300esb or iTCO_wdt, before blessing, or the machine resets at the deadline)")
	default:
		return fmt.Errorf("stopping the watchdog: %w", err)
	}
	return nil
}

// blessBLS renames the running entry's BLS file, if it carries a boot
// counter, as systemd-bless-boot marks a good boot: the counter removed.
// source is booted.json's ("vda1:/loader/entries/x+3.conf:1"); the
// bootloader renamed the file when it booted it, so the file is found by
// its base name.
func blessBLS(r *os.Root, source string, say func(string, ...any)) error {
	file := source
	if i := strings.Index(file, ":/"); i >= 0 {
		file = file[i+1:]
	}
	if i := strings.LastIndexByte(file, ':'); i >= 0 {
		file = file[:i]
	}
	if !strings.HasSuffix(file, ".conf") {
		return nil
	}
	base, _, ok := bls.ParseCounter(path.Base(file))
	if !ok {
		return nil
	}
	if !strings.HasPrefix(file, "/boot/") {
		file = "/boot" + file
	}
	dir := strings.TrimPrefix(path.Dir(file), "/")
	d, err := r.Open(dir)
	if err != nil {
		return err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return err
	}
	for _, n := range names {
		if b, _, ok := bls.ParseCounter(n); ok && b == base && strings.HasSuffix(n, ".conf") {
			good := bls.Blessed(n)
			if err := r.Rename(path.Join(dir, n), path.Join(dir, good)); err != nil {
				return err
			}
			say("boot counting: /%s/%s is now %s, as systemd-bless-boot marks a good boot", dir, n, good)
		}
	}
	return nil
}
