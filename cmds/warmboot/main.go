// Command warmboot is a LinuxBoot bootloader: it runs as u-root's uinit,
// finds the boot configs on local disks, offers them in a menu, and kexecs
// the chosen kernel.
//
// Synopsis:
//
//	warmboot [-timeout SECONDS] [-wait SECONDS] [-deadline SECONDS] [-panic SECONDS] [-rescue SECONDS] [-dry-run]
//	warmboot list [-root DIR] [-bootloader DIR | -trust DIR] [-json]
//	warmboot bless [-root DIR] [-pin]
//	warmboot booted [-root DIR]
//	warmboot efi-entry [-remove] [-esp DIR] [-file \EFI\warmboot\warmboot.efi] [-label TEXT] [-force] [-dry-run]
//
// Description:
//
// Without a subcommand, warmboot boots, and only in its initramfs (as the
// image's uinit): on a running system's root filesystem it refuses, since
// booting mounts every disk and kexecs without stopping anything. It loads the kernel modules the
// image carries, mounts every block device read-only under
// /run/warmboot/mnt, reads GRUB (grub.cfg, grubenv), Boot Loader
// Specification (loader/entries/*.conf, loader/loader.conf) and
// syslinux/extlinux configs, and shows one ranked menu on every console.
// When the countdown ends (or Enter is pressed) it reads the chosen
// kernel and initrds into memory; if the image carries trust keys
// (/etc/warmboot/trust), checks those bytes and the command line against
// a signed manifest and applies the image's policy (enforce, warn, off);
// with a TPM, extends PCRs 8 and 9 and hands the event log to the booted
// system as /.warmboot/eventlog; loads them with kexec_file_load (falling
// back to kexec_load when the kernel refuses the image format), unmounts
// everything and kexecs. An entry that cannot be read or loaded is
// reported, with the file to fix, and the next entry is tried. warmboot
// never returns: when nothing can be booted it says why for each entry,
// waits -rescue seconds (default 300) for a key on any console, and starts
// a shell if one comes, else reboots through the firmware (a machine
// nobody watches comes back to the bootloader, whose fallback chain boots
// last-known-good); when the shell exits it looks again.
//
// Every boot goes through the fallback chain of package trial, from the
// boot state beside the configs (/boot/warmboot/state, package state): a
// trial that never ran "warmboot bless" failed, and the entry that was
// running before it boots instead; the one-shot next entry warmswap set
// boots once; an entry out of tries is passed over. A trial (an entry
// asked for, or not last-known-good) is recorded before the kexec, gets
// panic=N and watchdog.open_timeout on its command line, and the hardware
// watchdog (/dev/watchdog) is armed for -deadline; so a kernel that
// panics or hangs brings the machine back through the firmware into the
// bootloader, which sees the failed trial.
//
// "warmboot bless", on the booted system (warmboot-bless.service runs it
// after boot-complete.target), records that the running entry came up:
// last-known-good, the default if a warm swap tried it, its BLS counter
// removed, the watchdog stopped.
//
// "warmboot booted" prints how the running system was booted (the entry,
// who asked for it, its verification, warmboot's timeline) from
// /run/warmboot/booted.json; warmboot-booted.service runs it so that the
// journal has it.
//
// "warmboot efi-entry", on a running UEFI system, makes the firmware boot
// the warmboot EFI binary already copied to the ESP (-file, default
// \EFI\warmboot\warmboot.efi, on the vfat filesystem mounted on -esp,
// default /boot/efi) ahead of the OS loader: it finds the ESP's partition
// through /proc/self/mountinfo and /sys/dev/block, reads the disk's GPT
// for the Hard Drive device path, and writes a Boot#### entry (-label,
// default "warmboot"; an existing one with the same label and path is
// reused) and a BootOrder with it first. It writes no variable that
// already holds what it would write, and no other. -remove takes that
// entry out of BootOrder and removes it; -dry-run says what would be
// written and writes nothing.
//
// "warmboot list" prints the entries as the bootloader would rank them,
// without loading anything, from the configs under DIR (default /boot):
// DIR is taken as the root of the filesystem the configs live on, as the
// bootloader sees each disk, numbered from 1, and the trust the bootloader
// will apply: the policy and keys of the image installed in -bootloader
// (default /boot/warmboot), or inside the bootloader image its own
// /etc/warmboot/trust, or -trust DIR's. It marks the entry the bootloader
// boots next, as its boot state makes it of the configs' default (">",
// with the bootloader's reasons; package nextboot), and, listing the
// running system (DIR /boot or /), what the firmware starts on a cold
// boot (package coldpath). -net URL adds what that boot file offers (an
// iPXE script run to its kernel, pxelinux's config, or a kernel), as the
// bootloader would after a DHCP answer naming it, with -mac for
// ${net0/mac}. With -json the output is the
// stable "warmboot.list/v2" document described in README.md.
//
// Options (boot): -timeout overrides the config's menu timeout (seconds;
// negative waits for a key), -wait is how long to wait for disks to
// appear, -dry-run reads, verifies, measures and loads the chosen entry
// (the TPM is extended and the image stays loaded) and exits instead of
// kexecing. -deadline is the watchdog deadline of a trial (default 300,
// 0 for none), -panic the N of its panic=N (default 10, 0 for none). The
// -rescue is how long to wait for a key before the rescue shell when
// nothing boots, rebooting if none comes (seconds, default 300; 0 starts
// the shell at once and waits forever). -net puts network entries
// (DHCP, then the iPXE script, pxelinux config or kernel its answer
// names) after the disks' (last, the default), before them (first), or
// looks for none (off); -net-wait bounds DHCP (seconds, default 5), which
// runs beside the disks' discovery. The kernel command line parameters
// warmboot.timeout=, warmboot.wait=, warmboot.deadline=, warmboot.panic=,
// warmboot.rescue=, warmboot.net= and warmboot.net.wait= set the same,
// for images whose uinit has no arguments.
//
// Example:
//
//	warmboot list -root /boot -json | jq '.entries[] | .label'
//	warmboot efi-entry -dry-run
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/loader"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// main is the only caller of the machine: the bootloader (package loader)
// decides, as a value, what happens last (package machine), and main
// does it.
func main() {
	ctx := context.Background()
	args := os.Args[1:]
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		os.Exit(run(ctx, args, os.Stdout, os.Stderr)) // a subcommand, or usage
	}
	if fstype, ok := initramfsRoot("/"); !ok {
		fmt.Fprintf(os.Stderr, "warmboot: not booting: / is %s, not the bootloader's initramfs; warmboot boots only as its image's uinit (on a running system: warmboot list, warmswap -dry-run, warmswap)\n", fstype)
		os.Exit(cli.ExitUsage)
	}
	cmdline, _ := os.ReadFile("/proc/cmdline")
	cfg, ok := parseBoot(args, string(cmdline), os.Stderr)
	if !ok {
		os.Exit(cli.ExitUsage)
	}
	l, cons := loader.Open(cfg, os.Stdout)
	say := func(format string, a ...any) { clog.Infof(l.Log(), format, a...) }
	var m machine.Machine = machine.Real{}
	for {
		a := l.Pass(ctx)
		switch a.Kind {
		case machine.Exit:
			os.Exit(a.Code)
		case machine.Kexec:
			err := m.Kexec() // returns only on failure
			say("kexec failed: %v", err)
			l.KexecFailed()
			a = l.Rescue(ctx)
		}
		if a.Kind == machine.Reboot {
			err := m.Reboot() // returns only on failure
			say("reboot failed: %v", err)
		}
		shell(cons, say)
		say("shell exited; looking for boot entries again")
	}
}
