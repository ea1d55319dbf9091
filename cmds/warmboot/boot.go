package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/console"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/lvm"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/measure"
	"github.com/warmboot/warmboot/boot/menu"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/boot/prepare"
	"github.com/warmboot/warmboot/boot/raid"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/trial"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/watchdog"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

const mountDir = "/run/warmboot/mnt"

type bootFlags struct {
	timeout, wait, deadline durationFlag
	panic                   int
	dryRun                  bool
}

// parseBoot reads the boot flags, then the warmboot.* kernel parameters
// for what the flags left unset (warmboot.deadline= and warmboot.panic=
// as warmswap reads them too, trial.ConfigFrom).
func parseBoot(args []string, stderr io.Writer) (bootFlags, bool) {
	var f bootFlags
	fs := flag.NewFlagSet("warmboot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&f.timeout, "timeout", "menu timeout in seconds, overriding the configs (negative: wait for a key)")
	fs.Var(&f.wait, "wait", "seconds to wait for disks with boot configs to appear (default 5)")
	fs.Var(&f.deadline, "deadline", "seconds a trial boot has to run \"warmboot bless\" before the watchdog resets the machine (0: no watchdog; default 300)")
	fs.IntVar(&f.panic, "panic", -1, "N of the panic=N a trial boot's command line gets (0: none; default 10)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "read, verify, measure and load the chosen kernel, then exit instead of kexecing (the image stays loaded)")
	if err := fs.Parse(args); err != nil {
		return f, false
	}
	data, _ := os.ReadFile("/proc/cmdline")
	p := cmdlineParams(string(data))
	for name, fl := range map[string]*durationFlag{"timeout": &f.timeout, "wait": &f.wait} {
		if v, ok := p[name]; ok && !fl.set {
			if err := fl.Set(v); err != nil {
				fmt.Fprintf(stderr, "warmboot: ignoring warmboot.%s=%s: %v\n", name, v, err)
			}
		}
	}
	c, ignored := trial.ConfigFrom(string(data))
	for _, w := range ignored {
		fmt.Fprintf(stderr, "warmboot: %s\n", w)
	}
	if !f.wait.set {
		f.wait.d = 5 * time.Second
	}
	if !f.deadline.set {
		f.deadline.d = c.Deadline
	}
	if f.panic < 0 {
		f.panic = c.Panic
	}
	return f, true
}

// newBooter is the bootloader on this machine: its consoles, disks, trust
// and TPM. It loads the modules, reads the trust and the handoff.
func newBooter(f bootFlags, stdout io.Writer) *booter {
	cons := console.Open("/", stdout)
	log := clog.New(cons, "warmboot")
	b := &booter{out: cons, cons: cons, log: log, keys: cons.Keys, flags: f, tl: timeline.New(), raid: raid.New(), lvm: lvm.New(),
		mounts: map[string]discover.Mounted{}}
	b.scan = b.discover
	b.unmount = func() error { return discover.UnmountAll(mountDir) }
	b.writable = func(device string, f func(fsys *os.Root) error) error {
		m, ok := b.mounts[device]
		if !ok {
			return fmt.Errorf("%s is not mounted", device)
		}
		return discover.WithWritable(m, f)
	}
	vols := map[string]fs.FS{}
	b.trials = trials{cfg: trial.Config{Deadline: f.deadline.d, Panic: f.panic}, now: time.Now,
		arm:    func(d time.Duration) (watchdog.Armed, error) { return watchdog.Arm("/", d) },
		disarm: func() error { return watchdog.Disarm("/") },
		stateFS: func(device string) fs.FS {
			m, ok := b.mounts[device]
			if !ok {
				return nil
			}
			// safefs: a FIFO or device node named like the state file
			// on a hostile disk is refused, not opened.
			if vols[device] == nil {
				vols[device] = m.Volume().FS
			}
			return vols[device]
		}}
	b.say("starting")
	b.raid.Need, b.lvm.Need = b.need, b.need
	b.loadModules()
	b.setupTrust()
	b.readHandoff()
	return b
}

type booter struct {
	// out is where the menu is drawn; log is everything said.
	out  io.Writer
	log  *slog.Logger
	cons *console.Set
	// keys reads key presses from every console.
	keys  func() (<-chan byte, func())
	flags bootFlags
	tl    *timeline.Timeline
	// pipe stages, verifies, measures, seals and loads an entry: the
	// image's policy and keys, the TPM, the kexec loader.
	pipe prepare.Pipeline
	// handoff is the request of the system that re-entered the
	// bootloader, nil when there is none or it was used; asked is the
	// request being acted on, for the booted system's record.
	handoff, asked *handoff.Record
	// scan finds the entries (discover on a machine); unmount releases
	// the disks before a kexec or a shell.
	scan    func() (choose.Menu, []discover.Probe)
	unmount func() error
	// mounts are the filesystems discovery mounted, by device; writable
	// runs f with a device's filesystem writable (boot counting, grubenv).
	mounts   map[string]discover.Mounted
	writable func(device string, f func(fsys *os.Root) error) error
	// raid assembles md arrays (a mirrored /boot) as their disks appear.
	raid *raid.Assembler
	// lvm maps LVM logical volumes (a /boot on an LV) read-only.
	lvm *lvm.Activator
	// mods loads drivers for the hardware found and groups on demand.
	mods   *modload.Modules
	needed map[string]bool
	// trials is the boot state: last-known-good, the trial, the
	// one-shot entry, the watchdog.
	trials trials
}

func (b *booter) say(format string, args ...any)  { clog.Infof(b.log, format, args...) }
func (b *booter) warn(format string, args ...any) { clog.Warnf(b.log, format, args...) }

// pass looks for entries once and boots one. It returns the last step:
// Kexec when an entry is loaded, Shell when nothing could be booted, Exit
// for -dry-run.
func (b *booter) pass(ctx context.Context) machine.Action {
	m, probes := b.scan()
	if len(m.Entries) == 0 && (b.handoff == nil || b.handoff.Kernel == nil) {
		b.explainNothing(probes, m.Warnings)
	} else {
		for _, w := range m.Warnings {
			b.warn("%s", w)
		}
		if a, ok := b.bootMenu(ctx, m); ok {
			return a
		}
	}
	if err := b.unmount(); err != nil {
		b.warn("%v", err)
	}
	if b.flags.dryRun {
		return machine.ExitWith(cli.ExitError)
	}
	return machine.Action{Kind: machine.Shell}
}

func (b *booter) loadModules() {
	end := b.tl.Begin("modules")
	defer end()
	var err error
	if b.mods, err = modload.System(); err != nil {
		b.say("loading modules: %v", err)
		return
	}
	r, err := b.mods.LoadList(modload.ListFile)
	if err != nil {
		b.say("loading modules: %v", err)
	}
	for _, err := range r.Errors {
		b.warn("%v", err)
	}
	hw, errs := b.mods.Coldplug()
	for _, err := range errs {
		b.warn("%v", err)
	}
	switch {
	case len(hw) > 0:
		b.say("loaded %d kernel modules (for the hardware found: %s)", r.Loaded+len(hw), strings.Join(hw, ", "))
	case r.Loaded+r.Present > 0:
		b.say("loaded %d kernel modules", r.Loaded)
	}
}

// coldplug loads the drivers of devices that appeared since the last call
// (the disks behind a controller just loaded, USB devices on a hub).
func (b *booter) coldplug() {
	if b.mods == nil {
		return
	}
	names, errs := b.mods.Coldplug()
	for _, err := range errs {
		b.warn("%v", err)
	}
	if len(names) > 0 {
		b.say("loaded %s for the devices found", strings.Join(names, ", "))
	}
}

// need loads an on-demand module group (a filesystem's driver, md, dm)
// the first time something needs it.
func (b *booter) need(group string) {
	if b.mods == nil || b.needed[group] {
		return
	}
	if b.needed == nil {
		b.needed = map[string]bool{}
	}
	b.needed[group] = true
	names, errs := b.mods.LoadGroup(group)
	for _, err := range errs {
		b.warn("%v", err)
	}
	if len(names) > 0 {
		b.say("loaded %s for %s", strings.Join(names, ", "), group)
	}
}

// setupTrust reads the image's trust, the kernel's kexec policy, and
// opens the TPM: the pipeline every entry goes through.
func (b *booter) setupTrust() {
	p := &b.pipe
	p.Log, p.Timeline = b.log, b.tl
	p.Trust, p.TrustErr = trust.Load(os.DirFS("/"), trust.Dir)
	if p.TrustErr != nil {
		b.say("trust: %v", p.TrustErr)
		b.say("trust: refusing every entry until the image is rebuilt")
	} else {
		b.say("%s", p.Trust)
	}
	if err := kexec.MountSecurityFS("/"); err != nil {
		b.log.Warn("mounting securityfs", "err", err)
	}
	k := kexec.ReadKernelState("/")
	if k.Lockdown != "" && k.Lockdown != "none" {
		b.say("kernel lockdown (%s): the kernel kexecs only kernels it can verify the signature of", k.Lockdown)
	}
	p.Loader = kexec.Loader{Sys: kexec.Real{}, Log: b.log, Kernel: k}
	// The TPM device stays open until kexec.
	m, _, err := measure.Open("/")
	switch {
	case errors.Is(err, measure.ErrNoTPM):
		b.say("no TPM: not measuring")
	case err != nil:
		b.say("TPM: %v; not measuring", err)
	default:
		p.Measurer = m
		b.say("TPM: measuring into PCRs %d and %d (banks %v)", measure.PCRCmdline, measure.PCRFiles, m.Banks())
		// Re-entered from a running system (no TPM reset since): continue
		// the log it handed over, so the log handed on still replays.
		if prev, err := os.ReadFile(handoff.EventLog); err == nil {
			if err := m.Continue(prev); err != nil {
				b.say("TPM: ignoring the event log handed over (%v); the log handed on covers only this boot", err)
			} else {
				b.say("TPM: continuing the event log handed over")
			}
		}
	}
}

// readHandoff reads the request a running system left for the
// bootloader it re-enters (warmswap). A bad one is ignored, with a
// message: a handoff can only choose an entry, never make a boot fail.
func (b *booter) readHandoff() {
	r, err := handoff.ReadRecord(os.DirFS("/"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return
	case err != nil:
		b.say("ignoring the handoff: %v", err)
		return
	}
	b.handoff = &r
	b.say("handoff from %q at %s (%s): boot %s", r.From, r.Time.UTC().Format(time.RFC3339), r.Reason, r.Wants())
	if seed := r.SeedBytes(); seed != nil {
		// Mixed into the pool, not credited: the running system's word
		// is not entropy we can vouch for.
		if err := os.WriteFile("/dev/urandom", seed, 0); err != nil {
			b.log.Warn("writing the handoff seed", "err", err)
		}
	}
}

// discover mounts the block devices and parses their configs, waiting up
// to -wait for disks to appear.
func (b *booter) discover() (choose.Menu, []discover.Probe) {
	var (
		vols   []entry.Volume
		probes []discover.Probe
		seen   = map[string]bool{}
		m      choose.Menu
	)
	deadline := time.Now().Add(b.flags.wait.d)
	usb := &discover.USBSettle{Sys: "/sys"}
	for {
		final := time.Now().After(deadline)
		end := b.tl.Begin("discover")
		b.coldplug()
		names, err := discover.Devices()
		if err != nil {
			b.say("%v", err)
		}
		// md arrays first: their members are then held by the array and
		// left out of the list, and the array itself is mounted.
		if arrays := b.raid.Assemble(names, final); len(arrays) > 0 {
			for _, a := range arrays {
				if a.Name == "" {
					b.say("not assembling %s", a)
				} else {
					b.say("assembled %s", a)
				}
				for _, m := range a.Members {
					probes = append(probes, discover.Probe{Device: m.Device, Result: "member of " + a.String()})
				}
			}
			if names, err = discover.Devices(); err != nil {
				b.say("%v", err)
			}
		}
		// Then LVM, whose PVs may be on those arrays.
		if vols := b.lvm.Activate(names); len(vols) > 0 {
			for _, v := range vols {
				b.say("%s", v)
				for _, pv := range v.PVs {
					probes = append(probes, discover.Probe{Device: pv, Result: "LVM physical volume of " + v.VG})
				}
			}
			if names, err = discover.Devices(); err != nil {
				b.say("%v", err)
			}
		}
		end()
		var fresh []string
		for _, n := range names {
			if b.raid.Member(n) {
				continue // read through its array
			}
			if !seen[n] {
				seen[n] = true
				fresh = append(fresh, n)
			}
		}
		end = b.tl.Begin("mount")
		mounted, p := discover.MountAll(mountDir, fresh, b.log, b.need)
		end()
		probes = append(probes, p...)
		end = b.tl.Begin("parse")
		for _, mt := range mounted {
			vols = append(vols, mt.Volume())
			b.mounts[mt.Device] = mt
		}
		// Every pass reads every volume again: a GRUB config's search
		// may find a disk that appeared after it.
		m = choose.Rank(discover.Scan(vols))
		end()
		// An array still missing a member, or a USB stick still being
		// probed, may be where the configs are: wait for it (or the
		// deadline) even with entries found.
		usbWait := usb.Pending(time.Now())
		if len(m.Entries) > 0 && !b.raid.Pending() && usbWait == "" || final {
			if final && usbWait != "" {
				b.say("%s after %s: not waiting longer (warmboot.wait= waits longer)", usbWait, b.flags.wait.d)
			}
			return m, probes
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *booter) explainNothing(probes []discover.Probe, warnings []entry.Warning) {
	b.say("no boot entries found.")
	if len(probes) == 0 {
		b.say("  no block devices appeared within %s (is the disk driver's module in the image?)", b.flags.wait.d)
	}
	for _, p := range probes {
		b.say("  %s: %s", p.Device, p.Result)
	}
	for _, w := range warnings {
		b.say("  %s", w)
	}
	b.say("looked for: %s", strings.Join(discover.Looked(), ", "))
}

// staged is an entry read, verified, measured and loaded, or why it could
// not be.
type staged struct {
	p   *prepare.Prepared
	err error
}

// stageLoad prepares e for kexec through the pipeline. edited says the
// user changed the command line.
func (b *booter) stageLoad(e entry.Entry, cmdline string, edited bool) staged {
	rec := func() handoff.Booted {
		tl, _ := json.Marshal(b.tl) // a Timeline always marshals
		return handoff.Booted{Entry: e.ID, Label: e.Label, Source: e.Source, By: "warmboot", Handoff: b.asked, Timeline: tl}
	}
	c, err := b.pipe.Check(e, cmdline, edited)
	if err != nil {
		return staged{err: err}
	}
	// A trial's panic=N is the bootloader's, added after the policy
	// checked the entry's own command line, and measured with it.
	if extra := b.trialParams(e, cmdline); extra != "" {
		c.Image.Cmdline += " " + extra
	}
	method, err := b.pipe.Finish(c, nil, rec)
	if err != nil {
		return staged{err: err}
	}
	p := &prepare.Prepared{Checked: c, Method: method}
	// kexec_file_load copied the bytes: the memfds can go.
	p.Image.Close()
	return staged{p: p}
}

// bootMenu shows the menu and tries entries until one is loaded. While
// the countdown runs, the default entry is read and loaded in the
// background, so that when the countdown ends the kexec follows at once.
// ok is false when nothing could be booted.
func (b *booter) bootMenu(ctx context.Context, m choose.Menu) (a machine.Action, ok bool) {
	timeout := 10 * time.Second
	if m.Timeout != nil {
		timeout = *m.Timeout
	}
	if b.flags.timeout.set {
		timeout = b.flags.timeout.d
	}
	m = b.resolveState(m)
	b.trials.requested = ""
	if r := b.handoff; r != nil {
		b.handoff = nil // one shot: a later pass (after the shell) shows the menu
		b.asked = r
		b.trials.requested = r.Entry
		if k := r.Kernel; k != nil {
			// The kernel handed over goes first; the disks' entries
			// follow, in menu order, if it cannot be booted.
			e := entry.NewExplicit("handoff", "kernel handed over ("+k.Path+")", handoff.KernelRoot,
				entry.Source{Device: "handoff", File: handoff.RecordFile}, k.Path, k.Initrds, k.Cmdline)
			m.Entries = append([]entry.Entry{e}, m.Entries...)
			m.Default++
			b.trials.requested = e.ID
			b.say("booting %q as the handoff asks; skipping the menu", e.Label)
			return b.tryEntries(m, menu.Choice{Index: 0, Cmdline: e.Cmdline}, nil)
		}
		if i := m.Find(r.Entry); i >= 0 {
			b.trials.requested = m.Entries[i].ID
			b.say("booting %q as the handoff asks; skipping the menu", m.Entries[i].Label)
			return b.tryEntries(m, menu.Choice{Index: i, Cmdline: m.Entries[i].Cmdline}, nil)
		}
		b.say("the handoff asks for entry %q, which no disk has; showing the menu", r.Entry)
		b.asked, b.trials.requested = nil, ""
	}
	def := m.Entries[m.Default]
	var pre chan staged
	if timeout != 0 {
		pre = make(chan staged, 1)
		go func() { pre <- b.stageLoad(def, def.Cmdline, false) }()
	}
	opts := menu.Options{Timeout: timeout}
	if t := b.pipe; t.TrustErr == nil && t.Trust.Policy == trust.Enforce && t.Trust.Edits == trust.EditsRefuse {
		opts.NoEdit = "policy enforce: the signature covers the command line"
	}
	keys, stop := b.keys()
	end := b.tl.Begin("menu")
	choice, err := menu.Run(ctx, b.out, keys, m, opts)
	end()
	stop()
	// Whatever was chosen, let the background load finish first: a later
	// kexec_file_load replaces its image, but it must not be the other way
	// round.
	var preloaded *staged
	if pre != nil {
		s := <-pre
		preloaded = &s
	}
	if err != nil {
		b.say("menu: %v", err)
		return machine.Action{}, false
	}
	return b.tryEntries(m, choice, preloaded)
}

// tryEntries loads choice, falling through to the other entries in menu
// order, and returns the kexec (or, for -dry-run, the exit) once one is
// loaded. preloaded, if not nil, is the default entry already loaded.
func (b *booter) tryEntries(m choose.Menu, choice menu.Choice, preloaded *staged) (machine.Action, bool) {
	def := m.Entries[m.Default]
	var failures []string
	for _, i := range m.Order(choice.Index) {
		e := m.Entries[i]
		cmdline, edited := e.Cmdline, false
		if i == choice.Index {
			cmdline, edited = choice.Cmdline, choice.Edited
		}
		b.say("loading %q from %s", e.Label, e.Source)
		var s staged
		if preloaded != nil && i == m.Default && cmdline == def.Cmdline {
			s, preloaded = *preloaded, nil
		} else {
			s = b.stageLoad(e, cmdline, edited)
		}
		if s.err != nil {
			verb, how := "cannot boot", ""
			var refused *prepare.Refused
			if errors.As(s.err, &refused) {
				verb, how = "refused", "refused: "
			}
			b.say("%s %q: %v; trying the next entry", verb, e.Label, s.err)
			failures = append(failures, fmt.Sprintf("%d) %s: %s%v", i+1, e.Label, how, s.err))
			continue
		}
		for _, n := range s.p.Notes() {
			if n.Warning {
				b.warn("%s", n.Msg)
			} else {
				b.say("%s", n.Msg)
			}
		}
		if !b.flags.dryRun {
			b.countAttempt(e)
			b.saveEnv(m.EnvWrites)
			b.startTrial(e)
		}
		end := b.tl.Begin("kexec")
		if err := b.unmount(); err != nil {
			b.warn("%v", err)
		}
		end()
		im := s.p.Image
		b.say("booting %q: kernel %s (%d bytes), initrd %d bytes, via %s", e.Label, e.At(e.Kernel), im.KernelSize, im.InitrdSize, s.p.Method)
		b.say("command line: %s", im.Cmdline)
		b.say("timeline: %s", b.tl)
		if b.flags.dryRun {
			b.say("-dry-run: not kexecing (the image stays loaded)")
			return machine.ExitWith(cli.ExitOK), true
		}
		return machine.Action{Kind: machine.Kexec}, true
	}
	b.say("nothing could be booted:")
	for _, f := range failures {
		b.say("  %s", f)
	}
	return machine.Action{}, false
}

// countAttempt counts the boot about to happen as systemd-boot does for
// an entry whose file name carries a Boot Loader Specification counter
// ("NAME+LEFT-DONE.conf"): the file is renamed with one try less and one
// more done, so an entry that never comes up to bless itself runs out of
// tries and ranks last. A filesystem that cannot be written (a journal
// needing recovery, RAID, LVM) is said and the boot goes on uncounted.
func (b *booter) countAttempt(e entry.Entry) {
	if e.Format != entry.BLS || e.TriesLeft < 0 {
		return
	}
	file := e.Source.File
	next, ok := bls.Attempted(path.Base(file))
	if !ok {
		return
	}
	nextFile := path.Join(path.Dir(file), next)
	err := b.writable(e.Source.Device, func(r *os.Root) error {
		return r.Rename(strings.TrimPrefix(file, "/"), strings.TrimPrefix(nextFile, "/"))
	})
	src := entry.Source{Device: e.Source.Device, File: file}
	if err != nil {
		b.warn("boot counting: not counting this attempt of %s: %v", src, err)
		return
	}
	_, c, _ := bls.ParseCounter(next)
	b.say("boot counting: %s is now %s (tries left after this one: %d)", src, next, c.Left)
}

// saveEnv makes the grubenv writes the GRUB configs made while they ran
// (save_env next_entry: GRUB's one-shot entry is used up), in place, as
// GRUB rewrites its environment block: same size, never re-created.
func (b *booter) saveEnv(ws []entry.EnvWrite) {
	for _, w := range ws {
		err := b.writable(w.File.Device, func(r *os.Root) error {
			f, err := r.OpenFile(strings.TrimPrefix(w.File.File, "/"), os.O_RDWR, 0)
			if err != nil {
				return err
			}
			defer f.Close()
			old, err := io.ReadAll(io.LimitReader(f, 64<<10))
			if err != nil {
				return err
			}
			var blk []byte
			if w.Unset {
				blk, err = grubenv.Unset(old, w.Name)
			} else {
				blk, err = grubenv.Set(old, w.Name, w.Value)
			}
			if err != nil || bytes.Equal(blk, old) {
				return err
			}
			if _, err := f.WriteAt(blk, 0); err != nil {
				return err
			}
			return f.Sync()
		})
		if err != nil {
			b.warn("grubenv: not saving %s in %s: %v", w.Name, w.File, err)
			continue
		}
		b.say("grubenv: saved %s=%q in %s, as GRUB does", w.Name, w.Value, w.File)
	}
}

func (b *booter) shell() {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		b.say("no shell in this image; retrying in 10s")
		time.Sleep(10 * time.Second)
		return
	}
	b.say("starting a shell (%s); exit it to look for boot entries again", sh)
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = b.cons.Primary(), b.cons.Primary(), b.cons.Primary()
	if err := cmd.Run(); err != nil {
		b.say("shell: %v", err)
	}
}
