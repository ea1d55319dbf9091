package loader

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/menu"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/prepare"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/trust"
)

// Exit codes of a dry run: loaded, or nothing could be booted.
const (
	exitLoaded  = 0
	exitNothing = 1
)

// Config is how the bootloader boots: its flags and kernel parameters.
type Config struct {
	// Timeout overrides the configs' menu timeout (negative waits for a
	// key); nil keeps theirs (10 s when they set none).
	Timeout *time.Duration
	// Wait is how long to wait for disks with boot configs to appear.
	Wait time.Duration
	// Trial is how trials are armed (deadline, panic=N).
	Trial trial.Config
	// Firmware is what a cold boot of the machine starts, for the booted
	// system's record (handoff.Booted.Firmware): "warmboot" when the
	// bootloader was started without warmswap saying otherwise
	// (warmboot.firmware=).
	Firmware string
	// DryRun loads the chosen entry and exits instead of kexecing,
	// changing nothing on disk.
	DryRun bool
	// Rescue is how long the bootloader waits for a key on any console
	// before its rescue shell when nothing could be booted; with no key
	// by then it reboots through the firmware (which comes back to the
	// bootloader, and its fallback chain to last-known-good). 0 (or
	// negative) starts the shell at once and waits there forever.
	Rescue time.Duration
	// Net is where network entries go in the menu, or off
	// (warmboot.net=); "" is last.
	Net NetMode
	// NetWait bounds DHCP (warmboot.net.wait=); 0 is DefaultNetWait.
	NetWait time.Duration
}

// Loader is the bootloader on one machine.
type Loader struct {
	cfg Config
	// out is where the menu is drawn; log is everything said.
	out io.Writer
	log *slog.Logger
	// keys reads key presses from every console; after is the clock the
	// rescue wait runs on (time.After when nil).
	keys  func() (<-chan byte, func())
	after func(time.Duration) <-chan time.Time
	tl    *timeline.Timeline
	disks Disks
	// network finds the network's entries; nil looks on disks only.
	network Network
	// pipe stages, verifies, measures, seals and loads an entry.
	pipe prepare.Pipeline
	// commit commits a boot; its Files write the mounted disks.
	commit Committer
	// handoff is the request of the system that re-entered the
	// bootloader, nil when there is none or it was used; asked is the
	// request being acted on, for the booted system's record.
	handoff, asked *handoff.Record
	// mounts are the filesystems discovery mounted, by device; vols
	// serve them for reading.
	mounts mounted
	vols   map[string]fs.FS
	// store is the boot state found beside the configs; requested is the
	// entry a handoff asks for (its boot is asked for).
	store     Store
	requested string
	// oneShot is the entry systemd's LoaderEntryOneShot boots this pass
	// (loaderVars), "" when none.
	oneShot string
	// armed: the watchdog runs for a kexec that has not happened;
	// disarm stops it.
	armed  bool
	disarm func() error
	// committed is the boot committed last, with the state as it was
	// before: a kexec that fails takes it back (KexecFailed).
	committed *committed
	// fast is the handoff's Found while its entry is booted from the
	// filesystems it names alone (Pass): the entry must boot what it
	// says, and nothing else in that partial menu is tried.
	fast *handoff.Found
	// pre is the handed-over entry read and verified before the state's
	// rules ran, for stageLoad to take; digests are the SHA-256 of the
	// files read this pass (by mount directory and path), which the
	// rules' "what does this entry boot" takes instead of reading a
	// file again (the configs' default often boots the same files).
	pre     *prechecked
	digests map[[2]string][32]byte
	// fastFailed is the handed-over entry that failed on the fast path
	// once measured (its load): every disk's pass does not measure and
	// load it again, and goes on to the next entry.
	fastFailed *fastFailed
}

type fastFailed struct {
	id  string
	err error
}

// prechecked is an entry read and verified ahead of its boot.
type prechecked struct {
	id, cmdline string
	c           *prepare.Checked
	err         error
}

// errFastDiffers is the handed-over entry booting other files than the
// running system read: the fast path gives way to every disk.
var errFastDiffers = errors.New("the entry's files are not the ones the running system read (changed since warmswap checked them)")

// committed is a committed boot: the trial it recorded, and the state
// before it.
type committed struct {
	trial  *state.Attempt
	before state.State
	// kexecFailed: main said the kexec into it failed (KexecFailed).
	kexecFailed bool
}

// Log is where the bootloader says everything, on every console.
func (l *Loader) Log() *slog.Logger { return l.log }

func (l *Loader) say(format string, args ...any)  { clog.Infof(l.log, format, args...) }
func (l *Loader) warn(format string, args ...any) { clog.Warnf(l.log, format, args...) }

// Pass looks for entries once and boots one. It returns the last step,
// for main to take: Kexec when an entry is loaded, Shell or Reboot when
// nothing could be booted (Rescue), Exit for a dry run.
func (l *Loader) Pass(ctx context.Context) machine.Action {
	netc := l.startNetwork(ctx)
	var found *handoff.Found
	if r := l.handoff; r != nil && r.Kernel == nil {
		found = r.Found
	}
	m, probes, fast := l.discoverFound(found)
	if fast {
		// The handed-over entry's filesystems alone (handoff.Found):
		// its boot, or, whatever stops it, every disk as without it.
		r := l.handoff
		l.fast = found
		for _, w := range m.Warnings {
			l.warn("%s", w)
		}
		a, ok := l.bootMenu(ctx, m)
		l.fast = nil
		if ok {
			return a
		}
		l.unmountAll()
		l.handoff = r
		m, probes = l.discover()
		defer func() { l.fastFailed = nil }()
	}
	m = l.finishNetwork(netc, m)
	if len(m.Entries) == 0 && (l.handoff == nil || l.handoff.Kernel == nil) {
		l.explainNothing(probes, m.Warnings)
	} else {
		for _, w := range m.Warnings {
			l.warn("%s", w)
		}
		if a, ok := l.bootMenu(ctx, m); ok {
			return a
		}
	}
	if err := l.disks.Unmount(); err != nil {
		l.warn("%v", err)
	}
	if l.cfg.DryRun {
		return machine.ExitWith(exitNothing)
	}
	return l.Rescue(ctx)
}

// Rescue decides what follows when nothing could be booted (or main's
// kexec failed): the rescue shell if someone is there, a reboot if not.
// It says so on every console, then waits up to Config.Rescue for a key
// on any of them: a key gives the shell, and no key (or no console that
// can be read) by then the reboot, so a machine nobody is watching
// comes back through the firmware instead of waiting in a shell forever.
// With Config.Rescue 0 it is the shell at once.
func (l *Loader) Rescue(ctx context.Context) machine.Action {
	shell := machine.Action{Kind: machine.Shell}
	d := l.cfg.Rescue
	if d <= 0 {
		return shell
	}
	after := l.after
	if after == nil {
		after = time.After
	}
	keys, stop := l.keys()
	defer stop()
	l.say("press any key for a rescue shell; no console input for %gs: rebooting (warmboot.rescue=0 waits forever)", d.Seconds())
	timer := after(d)
	for {
		select {
		case <-ctx.Done():
			return shell
		case _, ok := <-keys:
			if !ok {
				keys = nil // no console to read: only the timer is left
				continue
			}
			return shell
		case <-timer:
			l.say("no console input for %gs: rebooting", d.Seconds())
			return machine.Action{Kind: machine.Reboot}
		}
	}
}

// KexecFailed is main's word that the kexec Pass returned failed. The
// watchdog armed for it is stopped (the shell that follows must not be
// reset under the operator), and the trial recorded for it is taken back
// by the next pass, when it reads the state again (the disks are
// unmounted by now): the entry never ran, so it did not fail.
func (l *Loader) KexecFailed() {
	if c := l.committed; c != nil && c.trial != nil {
		c.kexecFailed = true
		l.say("trial: %q did not boot (the kexec failed): its trial is taken back on the next pass", c.trial.Entry.ID)
	}
	if !l.armed {
		return
	}
	l.armed = false
	if err := l.disarm(); err != nil {
		l.warn("stopping the watchdog armed for the kexec: %v; the machine resets at the deadline", err)
		return
	}
	l.say("watchdog stopped: the kexec it was armed for did not happen")
}

// staged is an entry read, verified, measured and loaded, with its boot
// decided, or why it could not be.
type staged struct {
	p    *prepare.Prepared
	boot Boot
	err  error
	// finished: err came from measuring or loading it, after it was
	// read and verified.
	finished bool
}

// stageLoad decides the boot of e and prepares it through the pipeline.
// edited says the user changed the command line.
func (l *Loader) stageLoad(e entry.Entry, cmdline string, edited bool, envWrites []entry.EnvWrite) staged {
	return l.stageLoadContext(context.Background(), e, cmdline, edited, envWrites)
}

// stageLoadContext is stageLoad, a network entry's fetches ended when
// ctx ends.
func (l *Loader) stageLoadContext(ctx context.Context, e entry.Entry, cmdline string, edited bool, envWrites []entry.EnvWrite) staged {
	var (
		c   *prepare.Checked
		err error
	)
	if p := l.pre; p != nil && p.id == e.ID && p.cmdline == cmdline && !edited {
		l.pre = nil
		c, err = p.c, p.err
	} else {
		c, err = l.check(ctx, e, cmdline, edited)
	}
	if err != nil {
		return staged{err: err}
	}
	// What the entry boots is known from the one read of its files (a
	// unified kernel image's command line among them).
	cmdline = c.Image.Cmdline
	boots := state.EntryBoots(e, c.Image.KernelSHA256, c.Image.BootsDigests(), cmdline)
	if f := l.fast; f != nil && boots != f.Boots {
		c.Image.Close()
		return staged{err: errFastDiffers}
	}
	bt := l.commit.Decide(&l.store, e, boots, l.requested != "" && l.requested == e.ID, cmdline)
	bt.EnvWrites = envWrites
	bt.Kernel = c.Image.KernelSHA256
	// A trial's panic=N is the bootloader's, added after the policy
	// checked the entry's own command line, and measured with it.
	c.Image.Cmdline = bt.Cmdline(c.Image.Cmdline)
	method, err := l.pipe.Finish(c, nil, func() handoff.Booted { return bt.Booted(l.asked, l.tl) })
	if err != nil {
		return staged{err: err, finished: true}
	}
	p := &prepare.Prepared{Checked: c, Method: method}
	// kexec_file_load copied the bytes: the memfds can go.
	p.Image.Close()
	return staged{p: p, boot: bt}
}

// check reads and verifies e (prepare.Pipeline.CheckContext), keeping
// the digests of its files for the rest of the pass (bootsOf).
func (l *Loader) check(ctx context.Context, e entry.Entry, cmdline string, edited bool) (*prepare.Checked, error) {
	c, err := l.pipe.CheckContext(ctx, e, cmdline, edited)
	if err == nil && e.UKI == nil && e.Net == nil && len(c.Image.InitrdSHA256s) == len(e.Initrds) {
		if l.digests == nil {
			l.digests = map[[2]string][32]byte{}
		}
		l.digests[[2]string{e.Root, e.Kernel}] = c.Image.KernelSHA256
		for i, p := range e.Initrds {
			l.digests[[2]string{e.Root, p}] = c.Image.InitrdSHA256s[i]
		}
	}
	return c, err
}

// bootsOf is nextboot.Boots for m, taking the digests of files this
// pass has read already (check) instead of reading them again.
func (l *Loader) bootsOf(m choose.Menu) func(int) string {
	read := nextboot.Boots(m, nil) // each entry's files read at most once
	return func(i int) string {
		e := m.Entries[i]
		k, ok := l.digests[[2]string{e.Root, e.Kernel}]
		var ins [][32]byte
		for _, p := range e.Initrds {
			d, found := l.digests[[2]string{e.Root, p}]
			ok = ok && found
			ins = append(ins, d)
		}
		if ok && e.UKI == nil && e.Net == nil {
			return state.EntryBoots(e, k, ins, e.Cmdline)
		}
		return read(i)
	}
}

// bootMenu shows the menu and tries entries until one is loaded. While
// the countdown runs, the default entry is read and loaded in the
// background, so that when the countdown ends the kexec follows at once.
// ok is false when nothing could be booted.
func (l *Loader) bootMenu(ctx context.Context, m choose.Menu) (a machine.Action, ok bool) {
	timeout := 10 * time.Second
	if m.Timeout != nil {
		timeout = *m.Timeout
	}
	if l.cfg.Timeout != nil {
		timeout = *l.cfg.Timeout
	}
	l.digests = nil
	if r := l.handoff; r != nil && r.Kernel == nil {
		// The entry asked for is read and verified first: the state's
		// rules below ask what the configs' default boots, which is
		// often the same files.
		if i := m.Find(r.Entry); i >= 0 && (l.fastFailed == nil || l.fastFailed.id != m.Entries[i].ID) {
			e := m.Entries[i]
			c, err := l.check(ctx, e, e.Cmdline, false)
			l.pre = &prechecked{id: e.ID, cmdline: e.Cmdline, c: c, err: err}
		}
	}
	defer l.dropPre()
	m = l.resolveState(m)
	// systemd's one-shot entry is asked for, as a handoff's is (a trial
	// unless it is last-known-good); a handoff goes before it.
	l.requested, l.asked = l.oneShot, nil
	if r := l.handoff; r != nil {
		l.handoff = nil // one shot: a later pass (after the shell) shows the menu
		l.asked = r
		l.requested = r.Entry
		// GRUB's config did not choose this boot: what its save_env
		// would use up (next_entry, which warmswap may have just set for
		// the firmware's GRUB to boot the fallback) is not used up.
		m.EnvWrites = nil
		if k := r.Kernel; k != nil {
			// The kernel handed over goes first; the disks' entries
			// follow, in menu order, if it cannot be booted.
			e := entry.NewExplicit("handoff", "kernel handed over ("+k.Path+")", handoff.KernelRoot,
				entry.Source{Device: "handoff", File: handoff.RecordFile}, k.Path, k.Initrds, k.Cmdline)
			// A unified kernel image: its own command line is the
			// entry's, and a different one handed over is an edit.
			u, err := bls.Explicit(e, false)
			if err != nil {
				l.warn("the kernel handed over cannot be booted: %v", err)
			}
			e = u
			m.Entries = append([]entry.Entry{e}, m.Entries...)
			m.Default++
			l.requested = e.ID
			l.say("booting %q as the handoff asks; skipping the menu", e.Label)
			return l.tryEntries(m, menu.Choice{Index: 0, Cmdline: k.Cmdline, Edited: k.Cmdline != e.Cmdline}, nil)
		}
		if i := m.Find(r.Entry); i >= 0 {
			l.requested = m.Entries[i].ID
			l.say("booting %q as the handoff asks; skipping the menu", m.Entries[i].Label)
			return l.tryEntries(m, menu.Choice{Index: i, Cmdline: m.Entries[i].Cmdline}, nil)
		}
		if l.fast != nil {
			l.say("fast path not taken: no entry %q on the filesystems the handoff names; looking on every disk", r.Entry)
			return machine.Action{}, false
		}
		l.say("the handoff asks for entry %q, which no disk has; showing the menu", r.Entry)
		l.asked, l.requested = nil, ""
	}
	def := m.Entries[m.Default]
	var pre chan staged
	preCtx, cancelPre := context.WithCancel(ctx)
	defer cancelPre()
	if timeout != 0 {
		pre = make(chan staged, 1)
		go func() { pre <- l.stageLoadContext(preCtx, def, def.Cmdline, false, m.EnvWrites) }()
	}
	opts := menu.Options{Timeout: timeout}
	if t := l.pipe; t.TrustErr == nil && t.Trust.Policy == trust.Enforce && t.Trust.Edits == trust.EditsRefuse {
		opts.NoEdit = "policy enforce: the signature covers the command line"
	}
	keys, stop := l.keys()
	end := l.tl.Begin("menu")
	choice, err := menu.Run(ctx, l.out, keys, m, opts)
	end()
	stop()
	// Whatever was chosen, let the background load finish first: a later
	// kexec_file_load replaces its image, but it must not be the other way
	// round.
	var preloaded *staged
	if pre != nil {
		abandoned := err != nil || choice.Index != m.Default || choice.Edited
		if abandoned && def.Net != nil {
			// Not booted: a network default still arriving stops now,
			// and is staged again if the fall-through comes to it.
			cancelPre()
		}
		s := <-pre
		if !(abandoned && def.Net != nil) {
			preloaded = &s
		}
	}
	if err != nil {
		l.say("menu: %v", err)
		return machine.Action{}, false
	}
	return l.tryEntries(m, choice, preloaded)
}

// dropPre lets go of an entry read ahead and not taken.
func (l *Loader) dropPre() {
	if p := l.pre; p != nil {
		l.pre = nil
		if p.c != nil {
			p.c.Image.Close()
		}
	}
}

// tryEntries loads choice, falling through to the other entries in menu
// order, commits the boot of the first that loads and returns the kexec
// (or, for a dry run, the exit). preloaded, if not nil, is the default
// entry already loaded.
func (l *Loader) tryEntries(m choose.Menu, choice menu.Choice, preloaded *staged) (machine.Action, bool) {
	def := m.Entries[m.Default]
	var failures []string
	for _, i := range m.Order(choice.Index) {
		e := m.Entries[i]
		cmdline, edited := e.Cmdline, false
		if i == choice.Index {
			cmdline, edited = choice.Cmdline, choice.Edited
		}
		l.say("loading %q from %s", e.Label, e.Source)
		var s staged
		if f := l.fastFailed; f != nil && f.id == e.ID && !edited {
			s, l.fastFailed = staged{err: f.err, finished: true}, nil
		} else if preloaded != nil && i == m.Default && cmdline == def.Cmdline {
			s, preloaded = *preloaded, nil
		} else {
			s = l.stageLoad(e, cmdline, edited, m.EnvWrites)
		}
		if s.err != nil && l.fast != nil {
			// Only the entry asked for is tried from a partial menu:
			// what follows it is decided on every disk. One that
			// failed once measured is not tried again there.
			if s.finished {
				l.fastFailed = &fastFailed{id: e.ID, err: s.err}
			}
			l.say("fast path not taken: %q: %v; looking on every disk", e.Label, s.err)
			return machine.Action{}, false
		}
		if s.err != nil {
			verb, how := "cannot boot", ""
			var refused *prepare.Refused
			if errors.As(s.err, &refused) {
				verb, how = "refused", "refused: "
			}
			l.say("%s %q: %v; trying the next entry", verb, e.Label, s.err)
			failures = append(failures, fmt.Sprintf("%d) %s: %s%v", i+1, e.Label, how, s.err))
			continue
		}
		clog.Say(l.log, s.p.Notes()...)
		if !l.cfg.DryRun {
			before := l.store.State
			done := l.commit.Commit(&l.store, s.boot)
			l.armed, l.committed = done.Armed, &committed{before: before}
			if s.boot.Trial() && done.Recorded {
				l.committed.trial = l.store.State.Trial
			}
		}
		end := l.tl.Begin("kexec")
		if err := l.disks.Unmount(); err != nil {
			l.warn("%v", err)
		}
		end()
		im := s.p.Image
		l.say("booting %q: kernel %s (%d bytes), initrd %d bytes, via %s", e.Label, e.At(e.Kernel), im.KernelSize, im.InitrdSize, s.p.Method)
		l.say("command line: %s", im.Cmdline)
		l.say("timeline: %s", l.tl)
		if l.cfg.DryRun {
			l.say("-dry-run: not kexecing (the image stays loaded)")
			return machine.ExitWith(exitLoaded), true
		}
		return machine.Action{Kind: machine.Kexec}, true
	}
	l.say("nothing could be booted:")
	for _, f := range failures {
		l.say("  %s", f)
	}
	return machine.Action{}, false
}

// locate finds the state file: an existing one first, an ESP or
// XBOOTLDR partition (FAT, holding /EFI or /loader) first, then the
// filesystems of the entries in menu order (state.Path beside their
// configs); with none existing, the first of these. warmswap on the
// running system picks by the same preference (state.HostFile).
func (l *Loader) locate(m choose.Menu) (dev, file string, ok bool) {
	type cand struct{ dev, file string }
	var cands []cand
	seen := map[cand]bool{}
	add := func(c cand) {
		if !seen[c] && l.volume(c.dev) != nil {
			seen[c] = true
			cands = append(cands, c)
		}
	}
	for _, d := range slices.Sorted(maps.Keys(l.mounts)) {
		if l.mounts[d].FSType == "vfat" && state.IsESP(l.volume(d)) {
			add(cand{d, "/" + state.Name})
		}
	}
	for _, i := range m.Order(m.Default) {
		src := m.Entries[i].Source
		add(cand{src.Device, state.Path(src.File)})
	}
	c, ok := state.Choose(cands, func(c cand) bool {
		_, err := fs.Stat(l.volume(c.dev), strings.TrimPrefix(c.file, "/"))
		return err == nil
	})
	return c.dev, c.file, ok
}

// resolveState reads the state and systemd's Boot Loader Interface
// variables (loaderVars) and applies the fallback chain to m
// (trial.Resolve), saying on every console what it changes.
func (l *Loader) resolveState(m choose.Menu) choose.Menu {
	l.store = Store{} // a pass after the shell reads it again
	l.oneShot = ""
	if len(m.Entries) == 0 {
		return m
	}
	// Where the state is does not depend on the variables: warmswap on
	// the running system finds it by the configs alone.
	dev, file, ok := l.locate(m)
	m, oneShot := l.loaderVars(m)
	var st state.State
	if ok {
		l.store = Store{File: file, Where: entry.Source{Device: dev, File: file}.String(),
			Write:      func(f func(*os.Root) error) error { return l.write(dev, f) },
			Unwritable: l.writable(dev)}
		var err error
		st, err = state.Read(l.volume(dev), file)
		if err != nil {
			l.warn("boot state: %v", err)
			l.store.Dirty = true // replace the bad file
		}
		if c := l.committed; c != nil && c.kexecFailed && st.Trial != nil && sameAttempt(*st.Trial, *c.trial) {
			// The trial this bootloader recorded for a kexec that failed:
			// the entry never ran, so it did not fail. The state is as it
			// was before (a one-shot entry still pending), and rewritten.
			l.say("boot state: %q never ran (the kexec into it failed): its trial is taken back", c.trial.Entry.ID)
			st, l.store.Dirty = c.before, true
		}
	}
	l.committed = nil
	bootsOf := l.bootsOf(m)
	r := trial.Resolve(st, m, trial.Context{Handoff: l.handoff != nil, Now: l.commit.Now(), Boots: bootsOf, Unrecorded: l.store.unrecorded(), OneShot: oneShot})
	l.commit.PlanFirmware, l.commit.SetFirmware = nil, nil
	switch l.cfg.Firmware {
	case string(coldpath.GRUB):
		l.commit.PlanFirmware = func(fb *state.Ref) (*state.OneShot, error) { return l.planGRUB(m, fb, bootsOf) }
		l.commit.SetFirmware = func(o *state.OneShot) error {
			return l.write(o.Device, func(r *os.Root) error { return coldpath.SetEnv(r, o) })
		}
	case string(coldpath.SystemdBoot), string(coldpath.FirmwareEntry):
		// Their one-shots are UEFI variables, which warmswap sets from
		// the running system before its kexec (-entry, -kernel,
		// -direct); a trial the bootloader starts by itself (a reboot
		// warmswap -load armed) is said to be unprotected.
		l.commit.PlanFirmware = func(*state.Ref) (*state.OneShot, error) {
			return nil, fmt.Errorf("%w: the bootloader sets only GRUB's one-shot entry, not %s's (warmswap -entry sets it before its kexec)", coldpath.ErrNoOneShot, l.cfg.Firmware)
		}
	}
	if l.handoff != nil || st.Next != nil || r.OneShot {
		// A trial records the configs' default it replaces, for the
		// default bless keeps after it.
		d := m.Entries[m.Default]
		l.commit.Over = &state.Ref{ID: d.ID, Source: d.Source, Boots: bootsOf(m.Default)}
	} else {
		l.commit.Over = nil
	}
	if r.OneShot {
		l.oneShot = r.Menu.Entries[r.Menu.Default].ID
	}
	clog.Say(l.log, r.Notes...)
	l.store.State, l.store.Dirty = r.State, l.store.Dirty || r.Changed
	return r.Menu
}

// planGRUB plans GRUB's one-shot next_entry for fallback where the
// firmware starts GRUB: in the grubenv beside the GRUB config the menu's
// GRUB entries came from (the one GRUB reads: the ESP's stub hands over
// to it, and its entries are found there), on its device.
func (l *Loader) planGRUB(m choose.Menu, fallback *state.Ref, boots func(int) string) (*state.OneShot, error) {
	if fallback == nil {
		return nil, nil
	}
	for _, e := range m.Entries {
		src := e.Source
		if e.Format != entry.GRUB || path.Base(src.File) != "grub.cfg" {
			continue
		}
		mt, ok := l.mounts[src.Device]
		if !ok {
			continue
		}
		if err := l.writable(src.Device); err != nil {
			return nil, fmt.Errorf("%w: GRUB's environment cannot be written: %v", coldpath.ErrNoOneShot, err)
		}
		o, err := coldpath.Plan(mt.Dir, coldpath.Path{Loader: coldpath.GRUB, Dir: path.Dir(src.File)}, m, *fallback, boots)
		if err != nil {
			return nil, err
		}
		o.Device = src.Device
		return o, nil
	}
	return nil, fmt.Errorf("%w: no GRUB config among the boot entries", coldpath.ErrNoOneShot)
}

// sameAttempt says a and b are one attempt: the same entry, started by
// the same at the same moment. Not ==: a time read back from the state
// file has no monotonic reading, and a fallback read back is another
// pointer.
func sameAttempt(a, b state.Attempt) bool {
	return a.Entry.ID == b.Entry.ID && a.By == b.By && a.At.Equal(b.At)
}
