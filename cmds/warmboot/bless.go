package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/cmds/internal/bless"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// restartCommand runs the restart through the firmware after a device
// check failed (warmswap, which decides and commits every restart);
// tests replace it.
var restartCommand = func(stdout, stderr io.Writer, args ...string) error {
	exe, err := exec.LookPath("warmswap")
	if err != nil {
		exe = "/usr/sbin/warmswap"
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}

// blessCmd is "warmboot bless": the running system came up.
func blessCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot bless", flag.ContinueOnError)
	fs.SetOutput(stderr)
	root := fs.String("root", "/", "the running system's root")
	pin := fs.Bool("pin", false, "keep the running entry (a warm swap's target) as the default for good, not only until the configs' default changes")
	onLoss := fs.String("on-device-loss", "fail", "when a device that worked before the kexec did not come back: fail (exit 3, not blessed) or restart (through the firmware into the same entry: warmboot-bless.service)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cli.ExitUsage
	}
	if *onLoss != "fail" && *onLoss != "restart" {
		fmt.Fprintf(stderr, "warmboot bless: -on-device-loss %q: want fail or restart\n", *onLoss)
		return cli.ExitUsage
	}
	err := bless.Bless(*root, clog.New(stdout, "warmboot: bless"), bless.Options{Pin: *pin})
	var lost *bless.DeviceLostError
	switch {
	case errors.As(err, &lost):
		fmt.Fprintf(stderr, "warmboot: bless: %v\n", err)
		if *onLoss != "restart" {
			return cli.ExitDeviceLost
		}
		// -unprotected: where the firmware starts GRUB or systemd-boot,
		// it is made to boot this entry once, and a failure then comes
		// back to that loader's default; this entry's kernel came up.
		args := []string{"-mode", "firmware", "-unprotected", "-reason", "device check failed after a kexec"}
		// A kernel handed over (warmswap -kernel: "handoff" through
		// warmboot, "kernel" with -direct) is in no config.
		if lost.Entry != "" && lost.Entry != "handoff" && lost.Entry != "kernel" {
			fmt.Fprintf(stdout, "warmboot: bless: restarting through the firmware into %q: warmswap %s -entry %s\n", lost.Entry, strings.Join(args, " "), lost.Entry)
			if err := restartCommand(stdout, stderr, append(args, "-entry", lost.Entry)...); err == nil {
				return cli.ExitDeviceLost
			} else {
				fmt.Fprintf(stderr, "warmboot: bless: the restart through the firmware into %q failed (%v): through the firmware into the configs' default instead\n", lost.Entry, err)
			}
		} else {
			// A kernel handed over (warmswap -kernel) is in no config.
			fmt.Fprintf(stdout, "warmboot: bless: %q is in no boot config: restarting through the firmware into the configs' default: warmswap %s\n", lost.Entry, strings.Join(args, " "))
		}
		if err := restartCommand(stdout, stderr, args...); err != nil {
			fmt.Fprintf(stderr, "warmboot: bless: the restart through the firmware failed (%v): the boot stays unblessed; a trial's watchdog resets the machine into its fallback, else restart it by hand\n", err)
		}
		return cli.ExitDeviceLost
	case err != nil:
		fmt.Fprintf(stderr, "warmboot: bless: %v\n", err)
		return cli.ExitError
	}
	return cli.ExitOK
}
