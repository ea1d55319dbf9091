package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"

	"github.com/warmboot/warmboot/boot/console"
	"github.com/warmboot/warmboot/boot/loader"
	"github.com/warmboot/warmboot/boot/mountinfo"
	"github.com/warmboot/warmboot/boot/trial"
)

// DefaultRescue is how long the bootloader waits for a key before its
// rescue shell when nothing boots, before it reboots instead
// (warmboot.rescue=).
const DefaultRescue = 300 * time.Second

// parseBoot reads the boot flags, then the warmboot.* kernel parameters
// (cmdline, /proc/cmdline's) for what the flags left unset
// (warmboot.deadline= and warmboot.panic= as warmswap reads them too,
// trial.ConfigFrom).
func parseBoot(args []string, cmdline string, stderr io.Writer) (loader.Config, bool) {
	var (
		timeout, wait, deadline, rescue, netWait durationFlag
		panicN                                   int
		net                                      string
		c                                        loader.Config
	)
	fs := flag.NewFlagSet("warmboot", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: warmboot [-timeout S] [-wait S] [-deadline S] [-panic N] [-rescue S] [-net first|last|off] [-net-wait S] [-dry-run]   (boots: only as its image's uinit, in the initramfs)")
		fmt.Fprintln(stderr, "       warmboot list [-root DIR] [-bootloader DIR | -trust DIR] [-json] | warmboot bless [-root DIR] [-pin] | warmboot booted [-root DIR] | warmboot efi-entry [-remove] [-force] [-dry-run]")
		fs.PrintDefaults()
	}
	fs.Var(&timeout, "timeout", "menu timeout in seconds, overriding the configs (negative: wait for a key)")
	fs.Var(&wait, "wait", "seconds to wait for disks with boot configs to appear (default 5)")
	fs.Var(&deadline, "deadline", "seconds a trial boot has to run \"warmboot bless\" before the watchdog resets the machine (0: no watchdog; default 300)")
	fs.Var(&rescue, "rescue", "seconds to wait for a key before the rescue shell when nothing boots; with none, reboot (0: the shell at once, waiting forever; default 300)")
	fs.IntVar(&panicN, "panic", -1, "N of the panic=N a trial boot's command line gets (0: none; default 10)")
	fs.StringVar(&net, "net", "", "network entries: last (after the disks', the default), first, or off")
	fs.Var(&netWait, "net-wait", "seconds DHCP may take, on every interface at once (default 5)")
	fs.BoolVar(&c.DryRun, "dry-run", false, "read, verify, measure and load the chosen kernel, then exit instead of kexecing (the image stays loaded)")
	if err := fs.Parse(args); err != nil {
		return c, false
	}
	p := cmdlineParams(cmdline)
	for name, fl := range map[string]*durationFlag{"timeout": &timeout, "wait": &wait, "rescue": &rescue, "net.wait": &netWait} {
		if v, ok := p[name]; ok && !fl.set {
			if err := fl.Set(v); err != nil {
				fmt.Fprintf(stderr, "warmboot: ignoring warmboot.%s=%s: %v\n", name, v, err)
			}
		}
	}
	tc, ignored := trial.ConfigFrom(cmdline)
	for _, w := range ignored {
		fmt.Fprintf(stderr, "warmboot: %s\n", w)
	}
	c.Wait = 5 * time.Second
	if wait.set {
		c.Wait = wait.d
	}
	if timeout.set {
		c.Timeout = &timeout.d
	}
	c.Rescue = DefaultRescue
	if rescue.set {
		c.Rescue = rescue.d
	}
	c.Trial = tc
	c.Net = loader.NetLast
	if v, ok := p["net"]; ok && net == "" {
		net = v
	}
	if net != "" {
		m, err := loader.ParseNetMode(net)
		if err != nil {
			fmt.Fprintf(stderr, "warmboot: ignoring warmboot.net=%s: %v\n", net, err)
		} else {
			c.Net = m
		}
	}
	c.NetWait = loader.DefaultNetWait
	if netWait.set {
		c.NetWait = netWait.d
	}
	// warmswap says what the firmware starts when it re-enters the
	// bootloader; without it the bootloader was started on a cold boot.
	c.Firmware = "warmboot"
	if v, ok := p["firmware"]; ok && v != "" {
		c.Firmware = v
	}
	if deadline.set {
		c.Trial.Deadline = deadline.d
	}
	if panicN >= 0 {
		c.Trial.Panic = panicN
	}
	return c, true
}

// initramfsRoot says whether the root filesystem under root is an
// initramfs (rootfs, or a tmpfs or ramfs), where the bootloader runs,
// and what it is: booting mounts every disk and kexecs without stopping
// anything, which on a running system would lose what it has not
// written. A mount table that cannot be read does not stop a boot: the
// bootloader must boot wherever it runs.
func initramfsRoot(root string) (fstype string, ok bool) {
	ms, err := mountinfo.Read(root)
	if err != nil {
		return "unknown", true
	}
	for _, m := range ms {
		if m.Dir == "/" {
			fstype = m.FSType // the last mount at / is the one seen
		}
	}
	switch fstype {
	case "rootfs", "tmpfs", "ramfs", "":
		return fstype, true
	}
	return fstype, false
}

// shell is the rescue shell on the primary console, when nothing could
// be booted; the bootloader looks again when it exits.
func shell(cons *console.Set, say func(string, ...any)) {
	sh := "/bin/sh"
	if _, err := os.Stat(sh); err != nil {
		say("no shell in this image; retrying in 10s")
		time.Sleep(10 * time.Second)
		return
	}
	say("starting a shell (%s); exit it to look for boot entries again", sh)
	cmd := exec.Command(sh)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = cons.Primary(), cons.Primary(), cons.Primary()
	if err := cmd.Run(); err != nil {
		say("shell: %v", err)
	}
}
