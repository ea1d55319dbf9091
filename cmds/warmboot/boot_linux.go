//go:build linux

package main

import (
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
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/console"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/lvm"
	"github.com/warmboot/warmboot/boot/measure"
	"github.com/warmboot/warmboot/boot/menu"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/boot/raid"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/timeline"
	"github.com/warmboot/warmboot/boot/tpm"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/boot/verify"
)

const mountDir = "/run/warmboot/mnt"

type bootFlags struct {
	timeout, wait durationFlag
	dryRun        bool
}

func boot(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var f bootFlags
	fs := flag.NewFlagSet("warmboot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&f.timeout, "timeout", "menu timeout in seconds, overriding the configs (negative: wait for a key)")
	fs.Var(&f.wait, "wait", "seconds to wait for disks with boot configs to appear (default 5)")
	fs.BoolVar(&f.dryRun, "dry-run", false, "load the chosen kernel but do not kexec; exit instead")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if data, err := os.ReadFile("/proc/cmdline"); err == nil {
		p := cmdlineParams(string(data))
		for name, fl := range map[string]*durationFlag{"timeout": &f.timeout, "wait": &f.wait} {
			if v, ok := p[name]; ok && !fl.set {
				if err := fl.Set(v); err != nil {
					fmt.Fprintf(stderr, "warmboot: ignoring warmboot.%s=%s: %v\n", name, v, err)
				}
			}
		}
	}
	if !f.wait.set {
		f.wait.d = 5 * time.Second
	}
	cons := console.Open(stdout)
	defer cons.Close()
	b := &booter{out: cons, cons: cons, flags: f, tl: timeline.New(), raid: raid.New(), lvm: lvm.New(),
		log: slog.New(slog.NewTextHandler(cons, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	return b.run(ctx)
}

type booter struct {
	out   io.Writer
	cons  *console.Set
	flags bootFlags
	tl    *timeline.Timeline
	log   *slog.Logger

	// trust is the image's policy and keys; trustErr, when set, refuses
	// every entry (an image built with a broken trust directory must not
	// boot unchecked).
	trust    trust.Trust
	trustErr error
	// meas is nil when there is no TPM to measure into.
	meas *measure.Measurer
	// kernel is what the running kernel enforces about kexec.
	kernel kexec.KernelState
	// handoff is the request of the system that re-entered the
	// bootloader, nil when there is none or it was used; asked is the
	// request being acted on, for the booted system's record.
	handoff, asked *handoff.Record
	// raid assembles md arrays (a mirrored /boot) as their disks appear.
	raid *raid.Assembler
	// lvm maps LVM logical volumes (a /boot on an LV) read-only.
	lvm *lvm.Activator
	// mods loads drivers for the hardware found and groups on demand.
	mods   *modload.Modules
	needed map[string]bool
}

func (b *booter) say(format string, args ...any) {
	fmt.Fprintf(b.out, "warmboot: "+format+"\n", args...)
}

func (b *booter) run(ctx context.Context) int {
	b.say("starting")
	b.raid.Need, b.lvm.Need = b.need, b.need
	b.loadModules()
	b.setupTrust()
	b.readHandoff()
	for {
		m, probes := b.discover()
		if len(m.Entries) == 0 && (b.handoff == nil || b.handoff.Kernel == nil) {
			b.explainNothing(probes, m.Warnings)
		} else {
			for _, w := range m.Warnings {
				b.say("warning: %s", w)
			}
			done, code := b.bootMenu(ctx, m)
			if done {
				return code
			}
		}
		if err := discover.UnmountAll(mountDir); err != nil {
			b.say("%v", err)
		}
		if b.flags.dryRun {
			return exitError
		}
		b.shell()
		b.say("shell exited; looking for boot entries again")
	}
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
		b.say("warning: %v", err)
	}
	hw, errs := b.mods.Coldplug()
	for _, err := range errs {
		b.say("warning: %v", err)
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
		b.say("warning: %v", err)
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
		b.say("warning: %v", err)
	}
	if len(names) > 0 {
		b.say("loaded %s for %s", strings.Join(names, ", "), group)
	}
}

// setupTrust reads the image's trust and opens the TPM.
func (b *booter) setupTrust() {
	b.trust, b.trustErr = trust.Load(os.DirFS("/"), trust.Dir)
	if b.trustErr != nil {
		b.say("trust: %v", b.trustErr)
		b.say("trust: refusing every entry until the image is rebuilt")
	} else {
		b.say("%s", b.trust)
	}
	if err := kexec.MountSecurityFS(); err != nil {
		b.log.Warn("mounting securityfs", "err", err)
	}
	b.kernel = kexec.ReadKernelState("/")
	if b.kernel.Lockdown != "" && b.kernel.Lockdown != "none" {
		b.say("kernel lockdown (%s): the kernel kexecs only kernels it can verify the signature of", b.kernel.Lockdown)
	}
	// The TPM device stays open until kexec.
	m, _, err := measure.Open()
	switch {
	case errors.Is(err, measure.ErrNoTPM):
		b.say("no TPM: not measuring")
	case err != nil:
		b.say("TPM: %v; not measuring", err)
	default:
		b.meas = m
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
		}
		// Every pass reads every volume again: a GRUB config's search
		// may find a disk that appeared after it.
		m = choose.Rank(discover.Scan(vols))
		end()
		// An array still missing a member may be where the configs
		// are: wait for it (or the deadline) even with entries found.
		if len(m.Entries) > 0 && !b.raid.Pending() || final {
			return m, probes
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func (b *booter) explainNothing(probes []discover.Probe, warnings []string) {
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
	im     *kexec.Image
	method kexec.Method
	err    error
	// refused is true when err is the verification policy's refusal.
	refused bool
	// notes are said when the entry is booted (not while the menu is
	// still on screen, since staging runs during the countdown).
	notes []string
}

// stageLoad reads e into memory, verifies and measures those bytes, and
// loads them for kexec. edited says the user changed the command line.
func (b *booter) stageLoad(e entry.Entry, cmdline string, edited bool) staged {
	end := b.tl.Begin("read")
	var opts []kexec.StageOption
	if b.verifying() {
		opts = append(opts, kexec.WithSHA256())
	}
	im, err := kexec.Stage(e, cmdline, opts...)
	end()
	if err != nil {
		return staged{err: err}
	}
	defer im.Close()
	var st staged
	// Only time verification when there is some: a "verify=" phase in an
	// unverified boot would mislead.
	end = func() {}
	if b.verifying() {
		end = b.tl.Begin("verify")
	}
	desc, err := b.verify(im, edited, &st.notes)
	end()
	if err != nil {
		return staged{err: err, refused: true}
	}
	files := map[string][]byte{}
	if b.meas != nil {
		end = b.tl.Begin("measure")
		err = b.measure(im, desc)
		end()
		if err != nil {
			return staged{err: err}
		}
		files[handoff.EventLog] = b.meas.Log()
	}
	if files[handoff.BootedFile], err = b.booted(e, desc); err != nil {
		return staged{err: err}
	}
	seg, err := handoff.Segment(files)
	if err != nil {
		return staged{err: err}
	}
	if err := im.Seal(seg); err != nil {
		return staged{err: err}
	}
	end = b.tl.Begin("load")
	st.method, st.err = kexec.Loader{Sys: kexec.Real{}, Log: b.log, Kernel: b.kernel}.Load(im)
	end()
	st.im = im
	return st
}

// verifying says whether entries are checked (or, with a broken trust
// directory, refused) rather than booted unverified.
func (b *booter) verifying() bool { return b.trustErr != nil || b.trust.Policy != trust.Off }

// verify applies the image's policy to a staged entry. It returns the
// trust event to measure, or the refusal.
func (b *booter) verify(im *kexec.Image, edited bool, notes *[]string) (string, error) {
	if b.trustErr != nil {
		return "", fmt.Errorf("the image's trust directory is broken: %w", b.trustErr)
	}
	e := im.Entry
	checkCmdline := !(edited && b.trust.Edits == trust.EditsUnsigned)
	v, err := verify.Apply(safefs.Dir(e.Root), b.trust, e, im.Cmdline, verify.Digests{Kernel: im.KernelSHA256, Initrds: im.InitrdSHA256s}, checkCmdline)
	switch {
	case err != nil:
		return "", err
	case v.Failed != nil:
		*notes = append(*notes, fmt.Sprintf("WARNING: %q is not verified: %v; booting it anyway (policy warn)", e.Label, v.Failed))
	case v.Result != nil:
		if !v.Result.CmdlineSigned {
			*notes = append(*notes, fmt.Sprintf("booting an edited command line that no one signed (policy allows edits); kernel and initrds are signed by %s", v.Result.Key.Fingerprint()))
		}
		*notes = append(*notes, fmt.Sprintf("verified: signed by %s (%s)", v.Result.Key.Fingerprint(), v.Result.Where))
	}
	return v.Event(), nil
}

// booted is the record handed to the booted system.
func (b *booter) booted(e entry.Entry, trustEvent string) ([]byte, error) {
	tl, err := json.Marshal(b.tl)
	if err != nil {
		return nil, err
	}
	return handoff.Booted{Entry: e.ID, Label: e.Label, Source: e.Source.String(), By: "warmboot",
		Trust: trustEvent, Handoff: b.asked, Timeline: tl}.Marshal()
}

// measure extends the PCRs with the staged bytes and the command line;
// the log so far is then b.meas.Log().
func (b *booter) measure(im *kexec.Image, trustEvent string) error {
	e := im.Entry
	name := e.At
	// The SHA-256 staging computed (when verifying) is reused.
	known := func(sum [32]byte) map[tpm.Alg][]byte {
		if sum == ([32]byte{}) {
			return nil
		}
		return map[tpm.Alg][]byte{tpm.SHA256: sum[:]}
	}
	if err := b.meas.Measure(measure.PCRFiles, io.NewSectionReader(im.Kernel, 0, im.KernelSize), name(e.Kernel), known(im.KernelSHA256)); err != nil {
		return err
	}
	for i, part := range im.InitrdParts {
		var sum [32]byte
		if i < len(im.InitrdSHA256s) {
			sum = im.InitrdSHA256s[i]
		}
		if err := b.meas.Measure(measure.PCRFiles, io.NewSectionReader(im.Initrd, part.Offset, part.Size), name(e.Initrds[i]), known(sum)); err != nil {
			return err
		}
	}
	if err := b.meas.MeasureString(measure.PCRCmdline, im.Cmdline, "kernel_cmdline: "+im.Cmdline); err != nil {
		return err
	}
	return b.meas.MeasureString(measure.PCRCmdline, trustEvent, trustEvent)
}

// bootMenu shows the menu and tries entries until one kexecs. While the
// countdown runs, the default entry is read and loaded in the background,
// so that when the countdown ends the kexec follows at once. It returns
// done=true only for -dry-run (a real kexec does not return).
func (b *booter) bootMenu(ctx context.Context, m choose.Menu) (done bool, code int) {
	timeout := 10 * time.Second
	if m.Timeout != nil {
		timeout = *m.Timeout
	}
	if b.flags.timeout.set {
		timeout = b.flags.timeout.d
	}
	if r := b.handoff; r != nil {
		b.handoff = nil // one shot: a later pass (after the shell) shows the menu
		b.asked = r
		if k := r.Kernel; k != nil {
			// The kernel handed over goes first; the disks' entries
			// follow, in menu order, if it cannot be booted.
			e := entry.Entry{ID: "handoff", Label: "kernel handed over (" + k.Path + ")", Format: "handoff",
				Kernel: k.Path, Initrds: k.Initrds, Cmdline: k.Cmdline, Root: handoff.KernelRoot,
				Source: entry.Source{Device: "handoff", File: handoff.RecordFile}, TriesLeft: -1}
			m.Entries = append([]entry.Entry{e}, m.Entries...)
			m.Default++
			b.say("booting %q as the handoff asks; skipping the menu", e.Label)
			return b.tryEntries(m, menu.Choice{Index: 0, Cmdline: e.Cmdline}, nil)
		}
		if i := m.Find(r.Entry); i >= 0 {
			b.say("booting %q as the handoff asks; skipping the menu", m.Entries[i].Label)
			return b.tryEntries(m, menu.Choice{Index: i, Cmdline: m.Entries[i].Cmdline}, nil)
		}
		b.say("the handoff asks for entry %q, which no disk has; showing the menu", r.Entry)
		b.asked = nil
	}
	def := m.Entries[m.Default]
	var pre chan staged
	if timeout != 0 {
		pre = make(chan staged, 1)
		go func() { pre <- b.stageLoad(def, def.Cmdline, false) }()
	}
	opts := menu.Options{Timeout: timeout}
	if b.trustErr == nil && b.trust.Policy == trust.Enforce && b.trust.Edits == trust.EditsRefuse {
		opts.NoEdit = "policy enforce: the signature covers the command line"
	}
	keys, stop := b.cons.Keys()
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
		return false, 0
	}
	return b.tryEntries(m, choice, preloaded)
}

// tryEntries boots choice, falling through to the other entries in menu
// order. preloaded, if not nil, is the default entry already loaded.
func (b *booter) tryEntries(m choose.Menu, choice menu.Choice, preloaded *staged) (done bool, code int) {
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
			if s.refused {
				verb, how = "refused", "refused: "
			}
			b.say("%s %q: %v; trying the next entry", verb, e.Label, s.err)
			failures = append(failures, fmt.Sprintf("%d) %s: %s%v", i+1, e.Label, how, s.err))
			continue
		}
		for _, n := range s.notes {
			b.say("%s", n)
		}
		end := b.tl.Begin("kexec")
		if err := discover.UnmountAll(mountDir); err != nil {
			b.say("warning: %v", err)
		}
		end()
		b.say("booting %q: kernel %s (%d bytes), initrd %d bytes, via %s", e.Label, e.At(e.Kernel), s.im.KernelSize, s.im.InitrdSize, s.method)
		b.say("command line: %s", cmdline)
		b.say("timeline: %s", b.tl)
		if b.flags.dryRun {
			b.say("-dry-run: not kexecing")
			return true, exitOK
		}
		err := kexec.Exec()
		b.say("kexec failed: %v", err)
		failures = append(failures, fmt.Sprintf("%d) %s: %v", i+1, e.Label, err))
		break
	}
	b.say("nothing could be booted:")
	for _, f := range failures {
		b.say("  %s", f)
	}
	return false, 0
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
