package bless

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/inventory"
	"github.com/warmboot/warmboot/boot/restart"
)

// DeviceLostError is a boot not blessed because a device that worked
// before the kexec did not after it.
type DeviceLostError struct {
	// Entry is the running entry's id.
	Entry string
	// Lost says what was lost.
	Lost []string
	// Recorded says the kernel was recorded kexec-unsafe (the record's
	// own error otherwise).
	Recorded error
}

func (e *DeviceLostError) Error() string {
	rec := "kexec into this kernel is recorded as unsafe on this machine (" + restart.UnsafeFile + "): later swaps to it go through the firmware"
	if e.Recorded != nil {
		rec = fmt.Sprintf("recording the kernel as kexec-unsafe failed (%v)", e.Recorded)
	}
	return fmt.Sprintf("device check failed after the kexec into %q: %s; the boot is not blessed; %s; a restart through the firmware brings the devices back: warmswap -mode firmware -unprotected -entry %s (or bring the device back and run bless again)",
		e.Entry, strings.Join(e.Lost, "; "), rec, e.Entry)
}

// Devices are the device check's hooks; the zero value is the machine's.
type Devices struct {
	Take  func() inventory.Inventory
	Sleep func(time.Duration)
	// Settle waits, at most d, for the device manager to have handled
	// the boot's devices (udevadm settle); nil runs udevadm where there
	// is one.
	Settle func(d time.Duration)
}

// udevSettle waits for udev's event queue to empty (drivers bound,
// modules loaded), at most d: bless can run while udev still handles the
// boot's devices, and a device not there yet is not a device lost.
func udevSettle(d time.Duration) {
	exe, err := exec.LookPath("udevadm")
	if err != nil || d <= 0 {
		return
	}
	exec.Command(exe, "settle", fmt.Sprintf("--timeout=%d", int(d.Seconds())+1)).Run()
}

// checkDevices is the device check after a kexec (package inventory):
// the inventory the running system took before it (booted.json's
// handoff) compared with this one's, devices given the rules' wait to
// come back. A loss records the kernel as kexec-unsafe. It returns
// whether the check ran now (and so counts), and a *DeviceLostError for
// a loss.
func checkDevices(root string, log *slog.Logger, b handoff.Booted, o Options) (bool, error) {
	say := func(format string, a ...any) { clog.Infof(log, format, a...) }
	if b.CheckDropped != "" {
		clog.Warnf(log, "device check: %s", b.CheckDropped)
	}
	if b.Handoff == nil || b.Handoff.Check == nil {
		return false, nil
	}
	c := b.Handoff.Check
	failed := false
	if done, ok := inventory.ReadChecked(root); ok {
		if done.OK {
			return false, nil
		}
		// Checked and failed already this boot (recorded, counted):
		// looked at again at once, as an operator who brought the
		// device back by hand runs bless again.
		failed = true
	}
	rules, err := inventory.ReadRules(root)
	if err != nil {
		clog.Warnf(log, "device check: %v: checking with the defaults", err)
	}
	if rules.Off {
		say("device check: off (%s)", inventory.RulesFile)
		return false, nil
	}
	take, sleep := o.Devices.Take, o.Devices.Sleep
	if take == nil {
		take = func() inventory.Inventory { return inventory.Take(root) }
	}
	if sleep == nil {
		sleep = time.Sleep
	}
	if failed {
		rules.Wait = 0
	}
	settle := o.Devices.Settle
	if settle == nil && o.Devices.Take == nil {
		settle = udevSettle
	}
	if settle != nil {
		settle(rules.Wait)
	}
	lost, after := inventory.Settle(c.Inventory, rules, take, o.Now, sleep)
	keep := func(ch inventory.Checked) {
		if err := inventory.WriteChecked(root, ch); err != nil {
			clog.Warnf(log, "device check: %v", err)
		}
	}
	if len(lost) == 0 {
		keep(inventory.Checked{OK: true})
		say("device check: every device that worked before the kexec works (%d PCI functions, %d links, %d disks, %d input devices)", len(after.PCI), len(after.Net), len(after.Block), len(after.Input))
		return true, nil
	}
	e := &DeviceLostError{Entry: b.Entry}
	for _, l := range lost {
		e.Lost = append(e.Lost, l.String())
	}
	if failed {
		return false, e
	}
	keep(inventory.Checked{Lost: e.Lost})
	kernel := b.Kernel
	if kernel == "" {
		kernel = c.Kernel
	}
	rel, _ := os.ReadFile(filepath.Join(root, "proc/sys/kernel/osrelease"))
	u, err := restart.ReadUnsafe(root)
	if err != nil {
		clog.Warnf(log, "%v: starting a new record", err)
	}
	u.Add(restart.UnsafeKernel{Kernel: kernel, Release: strings.TrimSpace(string(rel)), Entry: b.Entry, Devices: e.Lost, At: o.Now().UTC()})
	if kernel == "" {
		e.Recorded = errors.New("the booted record names no kernel digest")
	} else {
		e.Recorded = restart.WriteUnsafe(root, u)
	}
	return true, e
}
