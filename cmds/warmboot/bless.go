package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// BootedFiles are where a booted system finds what warmboot handed it:
// /run/warmboot once an initramfs hook copied it there, else the
// initramfs's own /.warmboot.
var BootedFiles = []string{"run/warmboot/booted.json", strings.TrimPrefix(handoff.BootedFile, "/")}

// StateFile is the state on a running system (package state's Name).
const StateFile = "boot/" + state.Name

// Running reads which entry this system is, from its booted.json.
func Running(root string) (handoff.Booted, error) {
	for _, f := range BootedFiles {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return handoff.Booted{}, err
		}
		b, err := handoff.ParseBooted(data)
		if err != nil {
			return handoff.Booted{}, fmt.Errorf("/%s: %w", f, err)
		}
		return b, nil
	}
	return handoff.Booted{}, fmt.Errorf("this system was not booted by warmboot (no /%s): nothing to bless", strings.Join(BootedFiles, " nor /"))
}

// bless is "warmboot bless": the running system came up.
func bless(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot bless", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "the running system's root")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cli.ExitUsage
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "warmboot: bless: "+format+"\n", a...) }
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "warmboot: bless: "+format+"\n", a...)
		return cli.ExitError
	}
	b, err := Running(*root)
	if err != nil {
		return fail("%v", err)
	}
	r, err := os.OpenRoot(*root)
	if err != nil {
		return fail("%v", err)
	}
	defer r.Close()
	st, err := state.Read(r.FS(), StateFile)
	if err != nil {
		say("%v", err)
	}
	st, said := trial.Bless(st, state.Ref{ID: b.Entry, Source: b.Source})
	if err := state.Save(r, StateFile, st); err != nil {
		return fail("%v (is /boot mounted read-write?)", err)
	}
	for _, s := range said {
		say("%s", s)
	}
	if err := blessBLS(r, b.Source, say); err != nil {
		say("boot counting: %v", err)
	}
	switch err := watchdog.Disarm(*root); {
	case err == nil:
		say("watchdog stopped")
	case errors.Is(err, watchdog.ErrHeld):
		say("%v: left running, in its hands", err)
	case errors.Is(err, watchdog.ErrNone):
		say("no watchdog device: nothing to stop (if a trial armed one, load its driver, e.g. i6300esb or iTCO_wdt, before blessing, or the machine resets at the deadline)")
	default:
		return fail("stopping the watchdog: %v", err)
	}
	return cli.ExitOK
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
