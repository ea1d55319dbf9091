package swap

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/loader"
	"github.com/warmboot/warmboot/boot/nextboot"
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
	// Running says how the running entry (the fallback) was known.
	Running string
	// OneShot is what makes the loader the firmware starts boot the
	// fallback once, set by Commit; nil when warmboot is that loader.
	OneShot *state.OneShot
	// Unprotected, when not nil, is why nothing on the firmware's path
	// would bring the machine back if the trial failed.
	Unprotected error
	// File is the state file (state.HostFile), relative to the root.
	File string
	// State is what Commit writes to File; StateErr says why the file on
	// disk could not be read (it is replaced).
	State    state.State
	StateErr error

	store loader.Store
	root  string
	// unlock lets go of the boot state (state.Lock), held from the read
	// to the write.
	unlock func()
	// lockErr: another process held the lock too long; the swap is
	// refused (what it read could be overwritten by what it would write).
	lockErr error
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
// command line gets its panic=N. Entries are known by what they boot: the
// running entry (the fallback) by booted.json or by its kernel and
// command line (package running), the target by its files' digests.
// Where the firmware starts another loader than warmboot, that loader is
// made to boot the fallback once (package coldpath; Trial.OneShot), or
// the trial is Unprotected.
func planTrial(env Env, req Request, p *Plan, blCmdline string) {
	if req.NoRecord {
		return // -load of the bootloader alone: it boots as from the firmware
	}
	t := &Trial{File: state.HostFile(env.Root), root: env.Root}
	// bless must not read and write the state between this read and
	// Commit's write (it would drop the one-shot entry written there).
	unlock, err := state.Lock(env.Root)
	switch {
	case errors.Is(err, state.ErrLockBusy):
		t.lockErr = err
	case err != nil:
		p.Warnings = append(p.Warnings, fmt.Sprintf("boot state: not locked (%v): a \"warmboot bless\" running now could undo what the swap records", err))
	}
	t.unlock = unlock
	var ignored []string
	t.Config, ignored = trial.ConfigFrom(blCmdline)
	for _, w := range ignored {
		p.Warnings = append(p.Warnings, "bootloader command line: "+w)
	}
	st, err := state.Read(os.DirFS(env.Root), t.File)
	t.StateErr = err
	boots := nextboot.Boots(p.Menu, env.Sums)
	t.Fallback = st.LastGood
	// The running entry as decide found it (running.Identify).
	if r, how, err := p.Running, p.runningHow, p.runningErr; err == nil && r != nil {
		fb := *r
		t.Fallback = &fb
		t.Running = how.String()
		if a := st.Trial; a != nil && a.Entry.Same(r) && a.Fallback != nil && p.Mode == Reboot {
			// The running entry is on trial (not blessed): restarting
			// it through the firmware (after a device check failed,
			// or asked) keeps its trial's fallback, not itself.
			t.Fallback = a.Fallback
			t.Running = how.String() + "; on trial, so its own fallback stays " + a.Fallback.FallbackName()
		}
	} else {
		p.Warnings = append(p.Warnings, fmt.Sprintf("the running system: %v; its fallback is last-known-good, %s", err, st.LastGood.FallbackName()))
	}
	t.store = loader.Store{State: st, Dirty: err != nil, File: t.File, Where: t.File,
		Write: func(f func(*os.Root) error) error { return discover.InRoot(env.Root, f) }}
	id := p.Target.ID
	if req.Kernel != "" && p.Mode != Direct {
		id = "handoff" // the bootloader's name for a kernel handed over
	}
	var over *state.Ref
	if len(p.Menu.Entries) > 0 {
		d := p.Menu.Entries[p.Menu.Default]
		over = &state.Ref{ID: d.ID, Source: d.Source, Boots: boots(p.Menu.Default)}
	}
	tb := p.targetBoots
	t.Target = state.Ref{ID: id, Source: p.Target.Source, Boots: tb}
	t.Guarded = !st.LastGood.Is(id, tb)
	if t.Guarded {
		t.OneShot, t.Unprotected = protect(env, p, t.Fallback, boots, ownOneShots(st))
		if p.Mode != Direct {
			// Through the bootloader, the bootloader records the trial
			// (and uses up the one-shot entry): where it cannot write,
			// it boots the target with neither panic=N nor the watchdog.
			if err := discover.BootloaderWritable(env.Root, path.Join("/", t.File)); err != nil {
				t.Unprotected = fmt.Errorf("the bootloader cannot record the trial: %w (warmswap -direct records it from this system)", err)
			}
		}
	}
	if p.Mode == Direct {
		chain := string(p.Firmware.Loader)
		d := &directBoot{c: loader.Committer{Config: t.Config, By: "warmswap -direct", Fallback: t.Fallback, Now: env.Now,
			Files: hostFiles(env), Arm: env.arm, MustRecord: true, Over: over, Firmware: t.OneShot, Chain: chain}}
		d.boot = d.c.Decide(&t.store, p.Target, tb, true, p.TargetCmdline)
		t.Guarded, t.State, t.direct = d.boot.Trial(), d.boot.State(), d
	} else {
		st.Next = &state.Attempt{Entry: t.Target, At: env.Now().UTC(), By: "warmswap", Fallback: t.Fallback, Over: over, Firmware: t.OneShot}
		t.State, t.store.State = st, st
		t.reboot = p.Mode == Reboot
	}
	if _, err := os.Stat(env.path(watchdog.Device)); err == nil {
		id, _ := os.ReadFile(env.path("sys/class/watchdog/watchdog0/identity"))
		t.Watchdog = strings.TrimSpace(watchdog.Device + " " + strings.TrimSpace(string(id)))
	}
	p.Trial = t
}

// protect says how a reset during the trial comes back to fallback:
// warmboot on the firmware's path needs nothing more (its state holds the
// trial); another loader gets a one-shot entry (planned here, set by
// Commit). A firmware reboot (never-kexec) goes to that loader with
// warmboot's one-shot entry, which only warmboot reads.
func protect(env Env, p *Plan, fallback *state.Ref, boots func(int) string, ours []*state.OneShot) (*state.OneShot, error) {
	fw := p.Firmware
	switch {
	case fw.Loader == coldpath.Warmboot:
		return nil, nil
	case p.Mode == Reboot:
		// The firmware's loader boots the target only if made to, once:
		// then a failure of the target comes back to what that loader
		// boots by default, not to the fallback.
		target := state.Ref{ID: p.Target.ID, Source: p.Target.Source}
		if i := p.Menu.Find(p.Target.ID); i >= 0 {
			target.Boots = boots(i)
		}
		o, err := coldpath.Plan(env.Root, fw, p.Menu, target, boots)
		if err != nil {
			return nil, fmt.Errorf("a firmware reboot starts %s, which cannot be made to boot %q once: %w", fw, p.Target.ID, err)
		}
		if err := pending(env, o, ours); err != nil {
			return nil, err
		}
		// If the target fails, that loader boots its own default:
		// protected when that is the fallback (the menu's default is
		// that loader's when its config is the menu's first).
		if d := p.Menu.Default; fallback != nil && d >= 0 && d < len(p.Menu.Entries) && defaultOf(p.Menu.Entries[d], fw) && boots(d) != "" && boots(d) == fallback.Boots {
			return o, nil
		}
		return o, fmt.Errorf("a firmware reboot starts %s, made to boot %q once (%s); if it fails, %s boots its own default, which does not boot %s", fw, p.Target.ID, o, fw.Loader, fallback.FallbackName())
	case fallback == nil:
		return nil, errors.New("the running system is not known (no booted.json, no entry whose kernel is the running one) and nothing is last-known-good")
	}
	o, err := coldpath.Plan(env.Root, fw, p.Menu, *fallback, boots)
	if err != nil {
		return nil, err
	}
	return o, pending(env, o, ours)
}

// defaultOf says e, a menu's default, is the default of the loader on
// the firmware's path fw: an entry of its GRUB config, or a BLS entry
// where it is systemd-boot.
func defaultOf(e entry.Entry, fw coldpath.Path) bool {
	switch fw.Loader {
	case coldpath.GRUB:
		return e.Format == entry.GRUB && strings.HasSuffix(e.Source.File, path.Join(fw.Dir, "grub.cfg"))
	case coldpath.SystemdBoot:
		return e.Format == entry.BLS
	}
	return false
}

// ownOneShots are the one-shots warmboot's own trials set (the state's
// trial and one-shot entry), which a new one may replace.
func ownOneShots(st state.State) []*state.OneShot {
	var out []*state.OneShot
	for _, a := range []*state.Attempt{st.Trial, st.Next} {
		if a != nil && a.Firmware != nil {
			out = append(out, a.Firmware)
		}
	}
	return out
}

// pending refuses to set o over a one-shot boot someone else asked for:
// one that ours (warmboot's own trials) set is replaced.
func pending(env Env, o *state.OneShot, ours []*state.OneShot) error {
	cur, err := coldpath.Pending(env.Root, o)
	for _, own := range ours {
		if cur != "" && own.Loader == o.Loader && own.Var == o.Var && own.File == o.File && own.Value == cur {
			return nil // a trial of ours set it: its fallback gives way
		}
	}
	switch {
	case err != nil:
		return fmt.Errorf("%w: reading %s: %v", coldpath.ErrNoOneShot, o, err)
	case cur != "":
		return fmt.Errorf("%w: %s's %s is already %q, a boot someone else asked for once (a firmware update, a reinstall, grub-reboot): setting it to %q would drop that boot; let it happen first, or clear it (%s)", coldpath.ErrNoOneShot, o.Loader, o.Var, cur, o.Value, coldpath.ClearHint(o))
	}
	return nil
}

// release lets go of the boot state lock (state.Lock).
func (t *Trial) release() {
	if t != nil && t.unlock != nil {
		t.unlock()
		t.unlock = nil
	}
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
	defer t.release()
	if o := t.OneShot; o != nil {
		if err := coldpath.Set(t.root, o); err != nil {
			return fmt.Errorf("trial: %w: nothing would bring the machine back if %q failed: fix it, or swap with -unprotected", err, t.Target.ID)
		}
		if t.reboot {
			clog.Infof(log, "firmware path: set %s: the firmware reboot boots %q, once", o, t.Target.ID)
		} else {
			clog.Infof(log, "%s", o.SetNote(t.Fallback))
		}
	}
	// A refused swap takes back the one-shot it set: nothing records it,
	// and the next cold boot would boot the fallback for nothing.
	undo := func(err error) error {
		if o := t.OneShot; o != nil {
			if _, derr := coldpath.Disarm(t.root, o); derr != nil {
				return fmt.Errorf("%w; and taking back %s: %v: clear it by hand", err, o, derr)
			}
		}
		return err
	}
	if d := t.direct; d != nil {
		d.c.Log = log
		if done := d.c.Commit(&t.store, d.boot); d.boot.Trial() && !done.Recorded {
			return undo(fmt.Errorf("trial: the trial of %q cannot be recorded in %s, and nothing would bring the machine back if it failed: make %s writable (is /boot mounted read-only, or full?) and swap again", t.Target.ID, t.File, path.Dir(t.File)))
		}
		return nil
	}
	err := t.store.Write(func(r *os.Root) error { return state.Save(r, t.File, t.State) })
	switch {
	case err != nil && t.reboot:
		return undo(fmt.Errorf("trial: %v: the firmware reboot would boot the default, not %q: make %s writable and swap again", err, t.Target.ID, path.Dir(t.File)))
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
