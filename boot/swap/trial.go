package swap

import (
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/loader"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/watchdog"
)

// Trial is what a swap records before anything is stopped, so that a
// target that does not come up brings the machine back by itself.
type Trial struct {
	Config trial.Config
	Target state.Ref
	// Fallback boots if the target fails: the running entry (from
	// booted.json), else last-known-good; nil when neither is known.
	Fallback *state.Ref
	// Guarded says the target's boot is a trial (it is not
	// last-known-good): the watchdog and panic=N guard it until
	// "warmboot bless".
	Guarded bool
	// Watchdog describes this machine's watchdog ("" when it has none).
	Watchdog string
	// File is the state file (state.HostFile), relative to the root.
	File string
	// State is what Commit writes to File; StateErr says why the file on
	// disk could not be read (it is replaced).
	State    state.State
	StateErr error

	store loader.Store
	// reboot: the swap is a firmware reboot, whose only way to the
	// target is the one-shot entry.
	reboot bool
	// direct is -direct's boot, decided and committed by the
	// bootloader's own rules (package loader); nil through the
	// bootloader, which commits the boot itself.
	direct *directBoot
}

type directBoot struct {
	c    loader.Committer
	boot loader.Boot
}

// planTrial fills in p.Trial: through the bootloader (or a firmware
// reboot) the target becomes the bootloader's one-shot next entry, which
// the bootloader boots as a trial; -direct decides the boot as the
// bootloader decides one (loader.Committer.Decide), and the target's
// command line gets its panic=N.
func planTrial(env Env, req Request, p *Plan, blCmdline string) {
	if req.NoRecord {
		return // -load of the bootloader alone: it boots as from the firmware
	}
	t := &Trial{File: state.HostFile(env.Root)}
	var ignored []string
	t.Config, ignored = trial.ConfigFrom(blCmdline)
	for _, w := range ignored {
		p.Warnings = append(p.Warnings, "bootloader command line: "+w)
	}
	st, err := state.Read(os.DirFS(env.Root), t.File)
	t.StateErr = err
	t.Fallback = st.LastGood
	if b, err := handoff.ReadBooted(env.Root); err == nil {
		t.Fallback = &state.Ref{ID: b.Entry, Source: b.Source}
	}
	t.store = loader.Store{State: st, Dirty: err != nil, File: t.File, Where: t.File,
		Write: func(f func(*os.Root) error) error { return discover.InRoot(env.Root, f) }}
	id := p.Target.ID
	if req.Kernel != "" && p.Mode != Direct {
		id = "handoff" // the bootloader's name for a kernel handed over
	}
	t.Target = state.Ref{ID: id, Source: p.Target.Source}
	if p.Mode == Direct {
		d := &directBoot{c: loader.Committer{Config: t.Config, By: "warmswap -direct", Fallback: t.Fallback, Now: env.Now,
			Files: hostFiles(env), Arm: env.arm, MustRecord: true}}
		d.boot = d.c.Decide(&t.store, p.Target, true, p.TargetCmdline)
		t.Guarded, t.State, t.direct = d.boot.Trial(), d.boot.State(), d
	} else {
		t.Guarded = !st.LastGood.Is(id)
		st.Next = &state.Attempt{Entry: t.Target, At: env.Now().UTC(), By: "warmswap", Fallback: t.Fallback}
		t.State, t.store.State = st, st
		t.reboot = p.Mode == Reboot
	}
	if _, err := os.Stat(env.path(watchdog.Device)); err == nil {
		id, _ := os.ReadFile(env.path("sys/class/watchdog/watchdog0/identity"))
		t.Watchdog = strings.TrimSpace(watchdog.Device + " " + strings.TrimSpace(string(id)))
	}
	p.Trial = t
}

// Commit leaves on disk what the swap must before anything stops,
// saying what it does on log: through the bootloader, the target as the
// one-shot next entry (the bootloader commits its boot); with -direct,
// the boot itself, committed exactly as the bootloader commits one (the
// trial recorded, a BLS counter counted, the watchdog armed last and only
// for what was recorded).
//
// It fails, having changed nothing, when the swap cannot go without the
// record: a -direct trial (nothing else would guard it: no watchdog, and
// after a reset nothing says it failed) and a firmware reboot's one-shot
// entry (the firmware would boot the default instead). Through the
// bootloader a failed write is said and the swap goes on: the handoff
// asks for the target, and the bootloader records the trial itself.
func (t *Trial) Commit(log *slog.Logger) error {
	if d := t.direct; d != nil {
		d.c.Log = log
		if done := d.c.Commit(&t.store, d.boot); d.boot.Trial() && !done.Recorded {
			return fmt.Errorf("trial: the trial of %q cannot be recorded in %s, and nothing would bring the machine back if it failed: make %s writable (is /boot mounted read-only, or full?) and swap again", t.Target.ID, t.File, path.Dir(t.File))
		}
		return nil
	}
	err := t.store.Write(func(r *os.Root) error { return state.Save(r, t.File, t.State) })
	switch {
	case err != nil && t.reboot:
		return fmt.Errorf("trial: %v: the firmware reboot would boot the default, not %q: make %s writable and swap again", err, t.Target.ID, path.Dir(t.File))
	case err != nil:
		clog.Warnf(log, "not recording the one-shot entry: %v; the bootloader records the trial of %q when it boots it, but a firmware reboot before then boots the default", err, t.Target.ID)
		return nil
	}
	clog.Infof(log, "recorded in %s: %q boots next, once, whichever way the machine gets to the bootloader", t.File, t.Target.ID)
	return nil
}

// hostFiles writes a device's filesystem where the running system
// mounted it (discover.MountOf), as the bootloader writes the disk it
// mounted: BLS counters are renamed on it.
func hostFiles(env Env) loader.Files {
	return func(device string, f func(*os.Root) error) error {
		dir, ok, err := discover.MountOf(env.Root, device)
		switch {
		case err != nil:
			return err
		case !ok:
			return fmt.Errorf("/dev/%s is not mounted on this system: mount it to count the boot", device)
		}
		return discover.InRoot(filepath.Join(env.Root, dir), f)
	}
}

// arm arms the running system's watchdog (Env.Arm, else the machine's).
func (e Env) arm(d time.Duration) (watchdog.Armed, error) {
	if e.Arm != nil {
		return e.Arm(d)
	}
	return watchdog.Arm(e.Root, d)
}
