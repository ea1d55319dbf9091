package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/metrics"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/shutdown"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/swap"
	"github.com/warmboot/warmboot/boot/watchdog"
	"github.com/warmboot/warmboot/cmds/internal/bless"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

type options struct {
	req         swap.Request
	clearUnsafe bool
	dryRun      bool
	load        bool
	unload      bool
	commit      bool
	pin         bool
	grace       time.Duration
}

func parse(args []string, stderr io.Writer) (options, bool) {
	var o options
	var initrds cli.Strings
	fs := flag.NewFlagSet("warmswap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.req.Entry, "entry", "", "entry id or label to boot (default: the default entry)")
	fs.StringVar(&o.req.Kernel, "kernel", "", "kernel to boot instead of an entry")
	fs.Var(&initrds, "initrd", "initramfs for -kernel (repeatable, concatenated in order)")
	fs.StringVar(&o.req.Cmdline, "cmdline", "", "command line for -kernel (default: the running kernel's)")
	fs.BoolVar(&o.req.Direct, "direct", false, "kexec the target itself, not the bootloader")
	fs.BoolVar(&o.dryRun, "dry-run", false, "check, stage and test-load; print the plan; stop nothing")
	fs.BoolVar(&o.load, "load", false, "check and load the bootloader for the next reboot (systemctl kexec), then exit; without -entry or -kernel it boots as from the firmware")
	fs.StringVar(&o.req.Bootloader, "bootloader", installed.Dir, "directory holding the warmboot bootloader (warmboot.bzImage or warmboot.efi, else vmlinuz with initramfs.cpio[.zst]; cmdline)")
	fs.StringVar(&o.req.Teardown, "teardown", swap.TeardownDir, "directory of executables run just before kexec")
	fs.StringVar(&o.req.Reason, "reason", "warmswap", "why, for the bootloader's log")
	fs.BoolVar(&o.unload, "unload", false, "unload what -load loaded (opting out: the next reboot goes through the firmware)")
	fs.BoolVar(&o.commit, "commit", false, "keep the running system: bless it (last-known-good, the default, watchdog stopped), as \"warmboot bless\" does")
	fs.BoolVar(&o.pin, "pin", false, "with -commit: keep the running system's entry as the default for good (else only until the configs' default changes, e.g. a kernel upgrade)")
	fs.BoolVar(&o.req.Unprotected, "unprotected", false, "swap even when nothing would bring the machine back if the target failed (the firmware's loader cannot be made to boot the running entry once)")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "time processes get between SIGTERM and SIGKILL")
	mode := fs.String("mode", "auto", "how to restart: auto (soft when the target boots the running kernel, initrds and command line; else kexec; the firmware where kexec is not safe), kexec, soft (systemctl soft-reboot), firmware")
	fs.BoolVar(&o.clearUnsafe, "clear-unsafe", false, "forget the kernels recorded kexec-unsafe (a device did not survive their kexec): later swaps to them kexec again")
	if err := fs.Parse(args); err != nil {
		return o, false
	}
	m, err := restart.ParseMode(*mode)
	if err != nil {
		fmt.Fprintln(stderr, "warmswap: "+err.Error())
		return o, false
	}
	o.req.Mode, o.req.Later = m, o.load
	fs.Visit(func(f *flag.Flag) { o.req.CmdlineSet = o.req.CmdlineSet || f.Name == "cmdline" })
	o.req.Initrds = initrds
	bad := func(msg string) (options, bool) { fmt.Fprintln(stderr, "warmswap: "+msg); return o, false }
	switch {
	case fs.NArg() > 0:
		return bad(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	case o.req.Entry != "" && o.req.Kernel != "":
		return bad("-entry and -kernel are exclusive")
	case o.req.Kernel == "" && (len(initrds) > 0 || o.req.CmdlineSet):
		return bad("-initrd and -cmdline go with -kernel")
	case o.pin && !o.commit:
		return bad("-pin goes with -commit: it pins the running system's entry as the default")
	case o.commit && len(args) > 1 && !(len(args) == 2 && o.pin):
		return bad("-commit goes alone (or with -pin): it blesses the running system")
	case o.unload && len(args) > 1:
		return bad("-unload goes alone: it unloads what -load loaded")
	case o.clearUnsafe && len(args) > 1:
		return bad("-clear-unsafe goes alone: it forgets the kernels recorded kexec-unsafe")
	case o.load && (o.dryRun || o.req.Direct):
		return bad("-load loads the bootloader for a later reboot: it goes with neither -dry-run nor -direct")
	}
	o.req.NoRecord = o.load && o.req.Entry == "" && o.req.Kernel == ""
	return o, true
}

// swapper is warmswap on a machine: the running system (Env), the
// shutdown's view of it, the kexec loader and the machine, all faked in
// tests.
type swapper struct {
	stdout, stderr io.Writer
	log            *slog.Logger
	env            swap.Env
	loads          kexec.Syscalls
	machine        machine.Machine
	sys            shutdown.System
	// systemd says systemd is PID 1 (it then does the shutdown).
	systemd bool
	// detach makes warmswap outlive its session once it starts stopping
	// processes (a no-op in tests).
	detach func()
	// sums is the digest cache file (package sumcache) the checks before
	// a swap use; "" for none (tests).
	sums string
	// softReboot says PID 1's systemd can soft-reboot (v254+).
	softReboot func() bool
	// systemctl runs systemctl with args (faked in tests).
	systemctl func(args []string) error
}

// newSwapper is warmswap on this machine.
func newSwapper(stdout, stderr io.Writer) *swapper {
	host, _ := os.Hostname()
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	// Everything said also goes to the kernel log, and so to the journal
	// of the boot that ends: an operator on ssh loses the terminal when
	// sshd stops.
	kmsg := clog.OpenKmsg("warmswap")
	stdout, stderr = io.MultiWriter(stdout, kmsg), io.MultiWriter(stderr, kmsg)
	return &swapper{stdout: stdout, stderr: stderr, log: clog.New(stdout, "warmswap"), sums: sumcache.Default,
		env:   swap.Env{Root: "/", Euid: os.Geteuid(), Now: time.Now, Rand: rand.Reader, Hostname: host, Release: strings.TrimSpace(string(rel))},
		loads: kexec.Real{}, machine: machine.Real{}, sys: shutdown.Real{}, systemd: systemdIsInit(), softReboot: systemdSoftReboot,
		systemctl: func(args []string) error {
			cmd := exec.Command("systemctl", args...)
			cmd.Stdout, cmd.Stderr = stdout, stderr
			return cmd.Run()
		},
		detach: func() {
			// We outlive our session: the shell and terminal that
			// started us are about to be stopped.
			signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE, syscall.SIGQUIT)
		}}
}

func (s *swapper) say(format string, a ...any) { clog.Infof(s.log, format, a...) }

// refuse reports a swap refused before anything was stopped.
func (s *swapper) refuse(format string, a ...any) machine.Action {
	fmt.Fprintf(s.stderr, "warmswap: refused: "+format+"\nwarmswap: nothing was stopped\n", a...)
	return machine.ExitWith(cli.ExitError)
}

// run checks, stages and loads, stops the system when it does so itself,
// and returns what main does last.
func (s *swapper) run(args []string) machine.Action {
	if len(args) > 0 && args[0] == "teardown" {
		return s.teardown(args[1:])
	}
	if len(args) > 0 && args[0] == "reboot" {
		return s.reboot(args[1:])
	}
	o, ok := parse(args, s.stderr)
	if !ok {
		return machine.ExitWith(cli.ExitUsage)
	}
	if o.commit {
		if err := bless.Bless(s.env.Root, clog.New(s.stdout, "warmswap: commit"), bless.Options{Pin: o.pin}); err != nil {
			fmt.Fprintf(s.stderr, "warmswap: commit: %v\n", err)
			var lost *bless.DeviceLostError
			if errors.As(err, &lost) {
				return machine.ExitWith(cli.ExitDeviceLost)
			}
			return machine.ExitWith(cli.ExitError)
		}
		return machine.ExitWith(cli.ExitOK)
	}
	if o.unload {
		return machine.ExitWith(s.unloadArmed())
	}
	if o.clearUnsafe {
		if err := restart.ClearUnsafe(s.env.Root); err != nil {
			fmt.Fprintf(s.stderr, "warmswap: -clear-unsafe: %v\n", err)
			return machine.ExitWith(cli.ExitError)
		}
		s.say("cleared %s: every kernel is kexec'd again (a device check that fails records it again)", restart.UnsafeFile)
		return machine.ExitWith(cli.ExitOK)
	}
	began := s.env.Now()
	s.env.SoftReboot = s.systemd && s.softReboot != nil && s.softReboot()
	// The digest cache is read here, not at start: "warmswap reboot" and
	// "teardown" run late in a shutdown and need none.
	if s.sums != "" {
		s.env.Sums = sumcache.Open(s.sums)
	}
	p, err := swap.Preflight(s.env, o.req)
	// Digests taken are kept for the next check whatever it decided (the
	// cache only saves time: an error keeping it is not the operator's).
	if err := s.env.Sums.Save(); err != nil {
		s.log.Debug("keeping the digest cache", "err", err)
	}
	if err != nil {
		return s.refuse("%v", err)
	}
	// The boot state stays locked until the trial is committed (which
	// lets go), or until this run ends without committing it.
	defer p.Release()
	s.printPlan(p)
	if p.Mode == swap.Soft {
		if o.dryRun {
			s.say("dry run: every check passed; nothing was stopped")
			return machine.ExitWith(cli.ExitOK)
		}
		s.started("soft", began)
		// A soft reboot keeps /run: Debian's "a reboot is required" flag
		// would survive the restart it asks for (and kured would ask
		// again).
		for _, f := range swap.RebootRequired {
			if err := os.Remove(filepath.Join(s.env.Root, f)); err == nil {
				s.say("removed /%s: this restart is the one it asks for (a soft reboot keeps /run)", f)
			}
		}
		s.say("systemd is PID 1: handing over to systemctl soft-reboot (it stops the services and starts userspace again on this kernel; the boot ID stays)")
		return machine.Action{Kind: machine.Systemctl, Verb: "soft-reboot"}
	}

	lateLoad := false
	if p.Mode != swap.Reboot && o.dryRun && s.machine.Loaded() {
		// A test load would replace what is loaded for the next reboot
		// (warmboot-load's image): a dry run leaves the machine as it is.
		s.say("check skipped: a kexec image is loaded for the next reboot; the kernel's own check of this image (kexec_file_load) is left to the swap, so as not to replace it")
		s.sayNextReboot()
		s.say("dry run: every other check passed; nothing was stopped or loaded")
		return machine.ExitWith(cli.ExitOK)
	}
	if p.Mode != swap.Reboot {
		before := s.machine.Loaded()
		method, err := s.load(p)
		switch {
		case err == nil:
			s.say("check ok: the kernel accepted the image (%s)", method)
		case errors.Is(err, syscall.ENOMEM) && !s.systemd && !o.dryRun:
			// As Talos does: load again once the processes are gone,
			// from the same bytes.
			lateLoad = true
			s.say("not enough memory to load the image now: %v; loading it again once processes are stopped (a firmware reboot if that fails too)", err)
		default:
			return s.refuse("loading the image: %v", err)
		}
		if o.dryRun {
			if !before && err == nil {
				if err := s.machine.Unload(); err != nil {
					fmt.Fprintf(s.stderr, "warmswap: unloading the test load: %v\n", err)
					return machine.ExitWith(cli.ExitError)
				}
			}
			s.sayNextReboot()
			s.say("dry run: every check passed; nothing was stopped or left loaded")
			return machine.ExitWith(cli.ExitOK)
		}
		if err := s.commit(p); err != nil {
			if !lateLoad {
				if uerr := s.machine.Unload(); uerr != nil {
					clog.Warnf(s.log, "unloading the image: %v", uerr)
				}
			}
			return s.refuse("%v", err)
		}
		if o.load {
			s.markArmed(p, method)
			s.sayNextReboot()
			return machine.ExitWith(cli.ExitOK)
		}
	} else if o.dryRun || o.load {
		if o.load && s.machine.Loaded() {
			// never-kexec: what an earlier -load loaded must not stay.
			s.unloadArmed()
		}
		s.sayNextReboot()
		s.say("every check passed; nothing was stopped or loaded")
		return machine.ExitWith(cli.ExitOK)
	} else if err := s.commit(p); err != nil {
		return s.refuse("%v", err)
	}

	if s.systemd {
		verb := "kexec"
		if p.Mode == swap.Reboot {
			verb = "reboot"
		}
		s.started(path(p), began)
		s.say("systemd is PID 1: handing over to systemctl %s (it stops the services and unmounts)", verb)
		return machine.Action{Kind: machine.Systemctl, Verb: verb}
	}
	s.started(path(p), began)
	return s.stop(p, o.grace, lateLoad)
}

// load loads the plan's image with the machine's loader, which explains
// a refusal by the kernel's policy the checks read and says a fallback.
func (s *swapper) load(p *swap.Plan) (kexec.Method, error) {
	return kexec.Loader{Sys: s.loads, Kernel: p.Kernel, Log: s.log}.Load(p.Image)
}

// commit leaves on disk what the swap needs before anything stops
// (swap.Trial.Commit): the one-shot next entry for the bootloader, or
// -direct's boot committed as the bootloader commits one. An error is a
// record the swap cannot go without: the caller refuses the swap.
func (s *swapper) commit(p *swap.Plan) error {
	if p.Trial == nil {
		return nil
	}
	return p.Trial.Commit(s.log)
}

func (s *swapper) printTrial(p *swap.Plan) {
	t := p.Trial
	if t == nil {
		return
	}
	if t.StateErr != nil {
		clog.Warnf(s.log, "boot state: %v", t.StateErr)
	}
	if !t.Guarded {
		s.say("plan: %q is last-known-good: no trial", t.Target.ID)
		return
	}
	fb := "the next entry with tries left (no entry is known to have come up)"
	if t.Fallback != nil {
		fb = fmt.Sprintf("%q", t.Fallback.ID)
	}
	s.say("plan: trial: %q must run \"warmboot bless\" (or \"warmswap -commit\") within %s of its kexec; if it panics (panic=%d) or hangs, the machine comes back to %s by itself",
		t.Target.ID, t.Config.Deadline, t.Config.Panic, fb)
	switch {
	case t.Config.Deadline <= 0:
		s.say("plan: watchdog off (warmboot.deadline=0): a hang waits for a manual reset, after which %s boots", fb)
	case t.Watchdog == "":
		clog.Warnf(s.log, "no watchdog on this machine (%s): a panic resets it (panic=%d), a hang waits for a manual reset, after which %s boots", watchdog.Device, t.Config.Panic, fb)
	case p.Mode == swap.Direct:
		s.say("plan: watchdog: %s, armed by warmswap: %s", t.Watchdog, watchdog.KexecKeeps(s.env.Root))
	default:
		s.say("plan: watchdog: %s, armed by the bootloader just before the kexec", t.Watchdog)
	}
}

func (s *swapper) printPlan(p *swap.Plan) {
	defer s.printTrial(p)
	for _, c := range p.Checks {
		s.say("check ok: %s: %s", c.What, c.Result)
	}
	for _, w := range p.Warnings {
		clog.Warnf(s.log, "%s", w)
	}
	switch p.Mode {
	case swap.Soft:
		s.say("plan: soft reboot: %s", p.Why)
	case swap.Reboot:
		s.say("%s", p.Why)
	case swap.Direct:
		s.say("plan: kexec %q directly (kernel %d bytes, initramfs %d bytes), command line: %s", p.Target.Label, p.Image.KernelSize, p.Image.InitrdSize, p.TargetCmdline)
	default:
		s.say("plan: re-enter warmboot (kernel %d bytes, initramfs %d bytes with the handoff), command line: %s", p.Image.KernelSize, p.Image.InitrdSize, p.Image.Cmdline)
		if p.Record == nil {
			why := "the configs' default"
			if p.Next != nil {
				why = p.Next.Why(p.Menu)
			}
			s.say("plan: warmboot boots as from the firmware: %q, %s, command line: %s", p.Target.Label, why, p.TargetCmdline)
			if p.Next != nil {
				for _, n := range p.Next.Notes {
					if n.Warning {
						clog.Warnf(s.log, "on a reboot now, the bootloader would say: %s", n.Msg)
					} else {
						s.say("plan: on a reboot now, the bootloader would say: %s", n.Msg)
					}
				}
			}
		} else {
			s.say("plan: warmboot boots %s (%q), command line: %s", p.Record.Wants(), p.Target.Label, p.TargetCmdline)
		}
	}
}

// stop is the shutdown without systemd: every process stopped, every
// filesystem unmounted or read-only, the teardown run. It returns the
// kexec (a firmware reboot if that fails: the machine is stopped by then)
// or, when kexec is refused for this machine or the image cannot be
// loaded, the firmware reboot.
func (s *swapper) stop(p *swap.Plan, grace time.Duration, lateLoad bool) machine.Action {
	s.detach()
	o := shutdown.Options{Self: os.Getpid(), Grace: grace, Log: s.log}
	var r shutdown.Report
	s.say("stopping: every process gets SIGTERM, then SIGKILL after %s", grace)
	if err := shutdown.StopProcesses(s.sys, o, &r); err != nil {
		clog.Warnf(s.log, "%v", err)
	}
	mode := p.Mode
	if lateLoad {
		if _, err := s.load(p); err != nil {
			s.say("loading the image still fails (%v): rebooting through the firmware instead", err)
			mode = swap.Reboot
		}
	}
	if err := shutdown.UnmountAll(s.sys, o, &r); err != nil {
		clog.Warnf(s.log, "%v", err)
	}
	shutdown.RunTeardown(s.sys, o, p.Teardown)
	if mode == swap.Reboot {
		return machine.Action{Kind: machine.Reboot}
	}
	return machine.Action{Kind: machine.Kexec, RebootOnFailure: true}
}

// path is the metrics' name of the plan's restart.
func path(p *swap.Plan) string {
	if p.Mode == swap.Reboot {
		return "firmware"
	}
	return "kexec"
}

// started counts the restart handed over now (package metrics); the
// booted system's bless sees it come up.
func (s *swapper) started(path string, began time.Time) {
	if _, err := metrics.Update(s.env.Root, func(c *metrics.Counts) { c.Started(path, began, s.env.Now()) }); err != nil {
		clog.Warnf(s.log, "metrics: %v", err)
	}
}

// abandoned takes back the restart started counted, which systemctl
// refused.
func (s *swapper) abandoned() {
	if _, err := metrics.Update(s.env.Root, func(c *metrics.Counts) { c.Abandon() }); err != nil {
		clog.Warnf(s.log, "metrics: %v", err)
	}
}

// systemdSoftReboot says PID 1's systemd (not the systemctl binary,
// which an upgrade may have replaced) is version 254 or later, which has
// "systemctl soft-reboot".
func systemdSoftReboot() bool {
	out, err := exec.Command("systemctl", "show", "-P", "Version").Output()
	if err != nil {
		return false
	}
	return swap.SystemdVersion(string(out)) >= 254
}

// systemdIsInit is sd_booted(3): /run/systemd/system exists.
func systemdIsInit() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// teardown is the systemd system-shutdown hook ("warmswap teardown
// VERB"): just before systemd kexecs, it runs the teardown executables;
// if never-kexec appeared since the image was loaded, it unloads it
// instead, and systemd then reboots through the firmware. On any other
// verb it does nothing.
func (s *swapper) teardown(args []string) machine.Action {
	if len(args) != 1 {
		fmt.Fprintln(s.stderr, "usage: warmswap teardown VERB (systemd passes halt, poweroff, reboot or kexec)")
		return machine.ExitWith(cli.ExitUsage)
	}
	if args[0] != "kexec" {
		return machine.ExitWith(cli.ExitOK)
	}
	if _, err := os.Stat(filepath.Join(s.env.Root, swap.NeverKexec)); err == nil {
		if err := s.machine.Unload(); err != nil {
			fmt.Fprintf(s.stderr, "warmswap: %s exists, but unloading the kexec image failed: %v\n", swap.NeverKexec, err)
			return machine.ExitWith(cli.ExitError)
		}
		s.say("%s exists: unloaded the kexec image; systemd reboots through the firmware", swap.NeverKexec)
		return machine.ExitWith(cli.ExitOK)
	}
	exes, err := shutdown.Teardown(filepath.Join(s.env.Root, swap.TeardownDir))
	if err != nil {
		fmt.Fprintf(s.stderr, "warmswap: %v\n", err)
		return machine.ExitWith(cli.ExitError)
	}
	if errs := shutdown.RunTeardown(s.sys, shutdown.Options{Log: s.log}, exes); len(errs) > 0 {
		return machine.ExitWith(cli.ExitError)
	}
	return machine.ExitWith(cli.ExitOK)
}

// reboot is systemd-reboot.service's ExecStart (the drop-in
// swap.RebootDropIn): when warmboot is armed for the next reboot, it turns
// this reboot into "systemctl --force kexec", as systemd 255 and later do
// by themselves. Otherwise it does nothing and systemd reboots through the
// firmware.
func (s *swapper) reboot(args []string) machine.Action {
	if len(args) > 0 {
		fmt.Fprintln(s.stderr, "usage: warmswap reboot (run by systemd-reboot.service)")
		return machine.ExitWith(cli.ExitUsage)
	}
	p := swap.NextReboot(s.rebootFacts())
	s.say("reboot: %s", p.Why)
	if !p.Kexec {
		return machine.ExitWith(cli.ExitOK)
	}
	return machine.Action{Kind: machine.Systemctl, Verb: "kexec", Force: true}
}

// markArmed records that warmboot is loaded for the next reboot.
func (s *swapper) markArmed(p *swap.Plan, method kexec.Method) {
	what := fmt.Sprintf("loaded by warmswap -load at %s (%s, %s)", s.env.Now().UTC().Format(time.RFC3339), p.Image.Entry.Kernel, method)
	f := filepath.Join(s.env.Root, swap.Armed)
	err := os.MkdirAll(filepath.Dir(f), 0o755)
	if err == nil {
		err = os.WriteFile(f, []byte(what+"\n"), 0o644)
	}
	if err != nil {
		clog.Warnf(s.log, "loaded, but not recorded in /%s (%v): the next reboot goes through warmboot only with systemctl kexec", swap.Armed, err)
	}
}

// unloadArmed unloads the kexec image and forgets that it was armed.
// The way back to a firmware reboot is where kexec-tools would load a
// kernel of its own: said, as -load and -dry-run say it.
func (s *swapper) unloadArmed() int {
	os.Remove(filepath.Join(s.env.Root, swap.Armed))
	defer func() {
		if w := swap.NextReboot(s.rebootFacts()).Warning; w != "" {
			clog.Warnf(s.log, "%s", w)
		}
	}()
	if !s.machine.Loaded() {
		s.say("unload: no kexec image is loaded; the next reboot goes through the firmware")
		return cli.ExitOK
	}
	if err := s.machine.Unload(); err != nil {
		fmt.Fprintf(s.stderr, "warmswap: unload: %v\n", err)
		return cli.ExitError
	}
	s.say("unloaded: the next reboot goes through the firmware")
	return cli.ExitOK
}

// sayNextReboot says which way the next reboot will go.
func (s *swapper) sayNextReboot() {
	p := swap.NextReboot(s.rebootFacts())
	s.say("next reboot: %s", p.Why)
	if p.Warning != "" {
		clog.Warnf(s.log, "%s", p.Warning)
	}
}

// rebootFacts are swap.ReadRebootFacts with the machine's word on what
// is loaded.
func (s *swapper) rebootFacts() swap.RebootFacts {
	return swap.ReadRebootFacts(s.env.Root, s.systemd, s.machine.Loaded())
}
