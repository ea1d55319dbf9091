package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/shutdown"
	"github.com/warmboot/warmboot/boot/swap"
)

const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

type options struct {
	req    swap.Request
	dryRun bool
	load   bool
	grace  time.Duration
}

func parse(args []string, stderr io.Writer) (options, bool) {
	var o options
	var initrds list
	fs := flag.NewFlagSet("warmswap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.req.Entry, "entry", "", "entry id or label to boot (default: the default entry)")
	fs.StringVar(&o.req.Kernel, "kernel", "", "kernel to boot instead of an entry")
	fs.Var(&initrds, "initrd", "initramfs for -kernel (repeatable, concatenated in order)")
	fs.StringVar(&o.req.Cmdline, "cmdline", "", "command line for -kernel (default: the running kernel's)")
	fs.BoolVar(&o.req.Direct, "direct", false, "kexec the target itself, not the bootloader")
	fs.BoolVar(&o.dryRun, "dry-run", false, "check, stage and test-load; print the plan; stop nothing")
	fs.BoolVar(&o.load, "load", false, "check and load the bootloader for the next reboot (systemctl kexec), then exit; without -entry or -kernel it boots as from the firmware")
	fs.StringVar(&o.req.Bootloader, "bootloader", swap.BootloaderDir, "directory holding the warmboot image (vmlinuz, initramfs.cpio[.zst], cmdline)")
	fs.StringVar(&o.req.Teardown, "teardown", swap.TeardownDir, "directory of executables run just before kexec")
	fs.StringVar(&o.req.Reason, "reason", "warmswap", "why, for the bootloader's log")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "time processes get between SIGTERM and SIGKILL")
	if err := fs.Parse(args); err != nil {
		return o, false
	}
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
	case o.load && (o.dryRun || o.req.Direct):
		return bad("-load loads the bootloader for a later reboot: it goes with neither -dry-run nor -direct")
	}
	o.req.NoRecord = o.load && o.req.Entry == "" && o.req.Kernel == ""
	return o, true
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "teardown" {
		return teardown(args[1:], stdout, stderr)
	}
	o, ok := parse(args, stderr)
	if !ok {
		return exitUsage
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "warmswap: "+format+"\n", a...) }
	host, _ := os.Hostname()
	rel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	env := swap.Env{Root: "/", Euid: os.Geteuid(), Now: time.Now, Rand: rand.Reader, Hostname: host, Release: strings.TrimSpace(string(rel))}
	p, err := swap.Prepare(env, o.req)
	if err != nil {
		fmt.Fprintf(stderr, "warmswap: refused: %v\nwarmswap: nothing was stopped\n", err)
		return exitError
	}
	printPlan(say, p)
	systemd := systemdIsInit()

	lateLoad := false
	if p.Mode != swap.Reboot {
		before := kexec.Loaded()
		loader := kexec.Loader{Sys: kexec.Real{}, Kernel: p.Kernel}
		method, err := loader.Load(p.Image)
		switch {
		case err == nil:
			say("check ok: the kernel accepted the image (%s)", method)
		case errors.Is(err, syscall.ENOMEM) && !systemd && !o.dryRun:
			// As Talos does: load again once the processes are gone,
			// from the same bytes.
			lateLoad = true
			say("not enough memory to load the image now: %v; loading it again once processes are stopped (a firmware reboot if that fails too)", err)
		default:
			fmt.Fprintf(stderr, "warmswap: refused: loading the image: %v\nwarmswap: nothing was stopped\n", err)
			return exitError
		}
		if o.dryRun {
			if !before && err == nil {
				if err := kexec.Unload(); err != nil {
					fmt.Fprintf(stderr, "warmswap: unloading the test load: %v\n", err)
					return exitError
				}
			}
			say("dry run: every check passed; nothing was stopped or left loaded")
			return exitOK
		}
		if o.load {
			say("loaded: the next \"systemctl kexec\" (or a reboot by a systemd that kexecs a loaded image) re-enters warmboot")
			return exitOK
		}
	} else if o.dryRun || o.load {
		say("every check passed; nothing was stopped or loaded")
		return exitOK
	}

	if systemd {
		verb := "kexec"
		if p.Mode == swap.Reboot {
			verb = "reboot"
		}
		say("systemd is PID 1: handing over to systemctl %s (it stops the services and unmounts)", verb)
		cmd := exec.CommandContext(ctx, "systemctl", verb)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "warmswap: systemctl %s: %v\n", verb, err)
			return exitError
		}
		return exitOK
	}
	return stopAndJump(p, o.grace, lateLoad, say)
}

func printPlan(say func(string, ...any), p *swap.Plan) {
	for _, c := range p.Checks {
		say("check ok: %s: %s", c.What, c.Result)
	}
	for _, w := range p.Warnings {
		say("WARNING: %s", w)
	}
	switch p.Mode {
	case swap.Reboot:
		say("%s", p.Why)
	case swap.Direct:
		say("plan: kexec %q directly (kernel %d bytes, initramfs %d bytes), command line: %s", p.Target.Label, p.Image.KernelSize, p.Image.InitrdSize, p.TargetCmdline)
	default:
		say("plan: re-enter warmboot (kernel %d bytes, initramfs %d bytes with the handoff), command line: %s", p.Image.KernelSize, p.Image.InitrdSize, p.Image.Cmdline)
		if p.Record == nil {
			say("plan: warmboot boots as from the firmware; its default now is %q, command line: %s", p.Target.Label, p.TargetCmdline)
		} else {
			say("plan: warmboot boots %s (%q), command line: %s", p.Record.Wants(), p.Target.Label, p.TargetCmdline)
		}
	}
}

// stopAndJump is the shutdown without systemd. It does not return when
// it works.
func stopAndJump(p *swap.Plan, grace time.Duration, lateLoad bool, say func(string, ...any)) int {
	// We outlive our session: the shell and terminal that started us are
	// about to be stopped.
	signal.Ignore(syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT, syscall.SIGPIPE, syscall.SIGQUIT)
	s := shutdown.Real{}
	o := shutdown.Options{Self: os.Getpid(), Grace: grace, Say: say}
	var r shutdown.Report
	say("stopping: every process gets SIGTERM, then SIGKILL after %s", grace)
	if err := shutdown.StopProcesses(s, o, &r); err != nil {
		say("warning: %v", err)
	}
	mode := p.Mode
	if lateLoad {
		if _, err := (kexec.Loader{Sys: kexec.Real{}, Kernel: p.Kernel}).Load(p.Image); err != nil {
			say("loading the image still fails (%v): rebooting through the firmware instead", err)
			mode = swap.Reboot
		}
	}
	if err := shutdown.UnmountAll(s, o, &r); err != nil {
		say("warning: %v", err)
	}
	shutdown.RunTeardown(s, o, p.Teardown)
	if mode == swap.Reboot {
		say("rebooting through the firmware")
		err := shutdown.Restart()
		say("reboot failed: %v", err)
		return exitError
	}
	say("kexec")
	err := shutdown.Kexec()
	// Everything is stopped: a machine left like this is stranded, so
	// go through the firmware.
	say("kexec failed: %v; rebooting through the firmware", err)
	err = shutdown.Restart()
	say("reboot failed: %v", err)
	return exitError
}

// systemdIsInit is sd_booted(3): /run/systemd/system exists.
func systemdIsInit() bool {
	st, err := os.Stat("/run/systemd/system")
	return err == nil && st.IsDir()
}

// teardown runs the teardown executables: "warmswap teardown kexec" is
// what systemd's system-shutdown hook calls (with the verb it is about to
// do); on any other verb it does nothing.
func teardown(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: warmswap teardown VERB (systemd passes halt, poweroff, reboot or kexec)")
		return exitUsage
	}
	if args[0] != "kexec" {
		return exitOK
	}
	exes, err := shutdown.Teardown(swap.TeardownDir)
	if err != nil {
		fmt.Fprintf(stderr, "warmswap: %v\n", err)
		return exitError
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "warmswap: "+format+"\n", a...) }
	if errs := shutdown.RunTeardown(shutdown.Real{}, shutdown.Options{Say: say}, exes); len(errs) > 0 {
		return exitError
	}
	return exitOK
}
