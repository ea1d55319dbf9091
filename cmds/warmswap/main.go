// Command warmswap swaps the running kernel for another in seconds, with
// no firmware reboot and nothing lost: it re-enters the warmboot
// bootloader (or, with -direct, the target) by kexec after an orderly
// shutdown.
//
// Synopsis:
//
//	warmswap [-entry ID | -kernel K [-initrd I]... [-cmdline C]] [-mode auto|kexec|soft|firmware]
//	         [-direct] [-unprotected] [-dry-run | -load]
//	         [-bootloader DIR] [-grace D] [-reason TEXT] [-teardown DIR]
//	warmswap -commit [-pin]
//	warmswap -unload
//	warmswap -clear-unsafe
//	warmswap reboot
//	warmswap teardown VERB
//
// Description:
//
// Before stopping anything, warmswap checks everything that could make
// the swap fail: root privileges, kernel.kexec_load_disabled, the
// per-machine never-kexec file, the warmboot image in -bootloader, the
// target (an entry of the boot configs on the mounted filesystems, found
// as warmboot finds them, or -kernel), the target's signature against the
// keys baked into the warmboot image under its policy, and the teardown
// executables. It stages the bytes to kexec in memory and loads them with
// kexec_file_load, which is where a locked-down kernel refuses an unsigned
// image. Only then does it stop the system: when systemd is PID 1 it runs
// "systemctl kexec"; otherwise it sends SIGTERM to every process, waits
// -grace, sends SIGKILL, syncs, unmounts every filesystem (remounting
// read-only what cannot be unmounted, including /), runs the teardown
// executables and kexecs.
//
// -mode says how the machine restarts (package restart; auto by
// default): systemd's soft-reboot when the target boots exactly the
// running kernel, initrds and command line (userspace restarts, the
// kernel and the boot ID stay); a kexec otherwise; through the firmware
// when asked, when never-kexec exists, when this boot's own device
// check failed, or when the target's kernel is recorded kexec-unsafe
// here (a device did not come back after its
// kexec: "warmboot bless" checks the devices warmswap recorded before
// stopping anything, and -clear-unsafe forgets the record). warmswap
// counts the restart it hands over for the metrics (package metrics).
//
// Exit codes: 0 the restart is under way (or -dry-run, -load passed), 1
// refused with nothing stopped (the reason on stderr), 2 bad usage, 3
// -commit did not bless: a device did not survive the kexec. It asks
// nothing, so orchestrators (kured's --reboot-command, Ansible) run it as
// it is.
//
// By default the image kexec'd is warmboot's, with a handoff saying what
// to boot: the bootloader skips its menu and applies its own policy. With
// -direct the target is kexec'd at once.
//
// Every swap is a trial (package trial): before stopping anything,
// warmswap records the target in the boot state (/boot/warmboot/state) as
// the bootloader's one-shot next entry, with the running entry (from
// booted.json) as its fallback; with -direct it records the trial itself,
// adds panic=N to the target's command line and arms the watchdog. If the
// target does not run "warmboot bless" (or "warmswap -commit") within the
// deadline (warmboot.deadline= in the bootloader's cmdline file), the
// watchdog or panic=N resets the machine and the bootloader boots the
// fallback. -dry-run prints the deadline, the fallback and whether this
// machine has a watchdog.
//
// If /etc/warmboot/never-kexec exists, the machine reboots through its
// firmware instead (after the same orderly shutdown), and says so.
//
// -load (warmboot-load.service) loads warmboot for the next reboot and
// records that it did (/run/warmboot/armed); -unload (its ExecStop) unloads
// it. Loaded so, warmboot boots as from the firmware: the entry its boot
// state makes of the configs' default (a default bless kept, a failed
// trial's fallback; package nextboot), which is the entry -load checks
// and names, with the bootloader's reasons. -dry-run and -load end by saying which way the next reboot will go
// (through warmboot, or through the firmware, and why); a dry run never
// replaces an image loaded for the next reboot.
//
// "warmswap reboot" is systemd-reboot.service's drop-in: on systemd before
// 255, whose "systemctl reboot" does not kexec a loaded image, it turns a
// reboot into "systemctl --force kexec" while warmboot is armed.
//
// "warmswap teardown VERB" is the systemd system-shutdown hook, which
// systemd runs just before it halts, reboots or kexecs: on kexec it runs
// the teardown executables, or, when never-kexec appeared after the image
// was loaded, unloads it so that systemd reboots through the firmware.
//
// Everything warmswap says also goes to the kernel log, and so to the
// journal ("journalctl -b -1 -t warmswap" after a swap).
//
// Options:
//
//	-entry ID        entry id or label to boot (default: the default entry)
//	-mode M          auto (default), kexec, soft or firmware
//	-clear-unsafe    forget the kernels recorded kexec-unsafe
//	-kernel K        kernel to boot instead of an entry; -initrd (repeatable), -cmdline
//	-cmdline C       command line for -kernel (default: the running kernel's)
//	-direct          kexec the target itself, not the bootloader
//	-dry-run         check, stage and test-load, print the plan; stop nothing
//	-load            check and load the bootloader for a later "systemctl kexec"; stop nothing
//	-commit          keep the running system: last-known-good and the default (= warmboot bless)
//	-unload          unload what -load loaded (opting out)
//	-bootloader DIR  the warmboot image (default /boot/warmboot)
//	-grace D         time processes get between SIGTERM and SIGKILL (default 10s)
//
// Example:
//
//	warmswap -dry-run -entry debian-6.1.0-57-amd64
//	warmswap -entry debian-6.1.0-57-amd64
package main

import (
	"fmt"
	"os"

	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// main is the only caller of the machine: run decides, as a value, what
// happens last (package machine), and do does it.
func main() {
	s := newSwapper(os.Stdout, os.Stderr)
	os.Exit(do(s, s.run(os.Args[1:])))
}

// do does a, the last step: hand over to systemctl, kexec (through the
// firmware if that fails once everything is stopped), or reboot. It
// returns the exit code when the machine is still there.
func do(s *swapper, a machine.Action) int {
	switch a.Kind {
	case machine.Exit:
		return a.Code
	case machine.Systemctl:
		args := []string{a.Verb}
		if a.Force {
			args = []string{"--force", a.Verb}
		}
		if err := s.systemctl(args); err != nil {
			fmt.Fprintf(s.stderr, "warmswap: %s: %v\n", a, err)
			if a.Verb != "kexec" || !a.Force {
				s.abandoned()
			}
			return cli.ExitError
		}
		return cli.ExitOK
	case machine.Kexec:
		s.say("kexec")
		err := s.machine.Kexec() // returns only on failure
		if !a.RebootOnFailure {
			s.say("kexec failed: %v", err)
			return cli.ExitError
		}
		// Everything is stopped: a machine left like this is stranded,
		// so go through the firmware.
		s.say("kexec failed: %v; rebooting through the firmware", err)
	}
	s.say("rebooting through the firmware")
	err := s.machine.Reboot()
	s.say("reboot failed: %v", err)
	return cli.ExitError
}
