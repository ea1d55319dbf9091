// Package watchdog arms the hardware watchdog across a kexec and disarms
// it once the booted system is blessed, through the kernel's watchdog API
// (/dev/watchdog; Documentation/watchdog/watchdog-api.rst).
//
// Arming opens the device (which starts the timer), sets the deadline and
// closes it without the magic close: the driver then says "watchdog did
// not stop!" and leaves the timer running, and nothing pings it. The
// kernel must also leave it running through the kexec: the watchdog core
// stops watchdogs on reboot (kexec included) when its stop_on_reboot
// parameter or the driver asks it to, so the bootloader loads the core
// with stop_on_reboot=0 (images/mkimage's module options). If the new
// kernel hangs, the timer resets the machine into the firmware and the
// bootloader. Disarming is the magic close: write 'V', then close.
//
// u-root's pkg/watchdog does the same ioctls but calls x/sys/unix itself
// and builds only on Linux; these three go through the one syscall seam
// (internal/sys) like every other call that changes the machine.
package watchdog

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Device is the first watchdog, the one the kernel's API documents.
const Device = "/dev/watchdog"

// StopOnReboot is the watchdog core's parameter deciding whether a kexec
// stops the timer: 0 keeps it, 1 stops it, -1 leaves it to the driver.
const StopOnReboot = "/sys/module/watchdog/parameters/stop_on_reboot"

// Sentinels.
var (
	ErrNone = errors.New("no watchdog device (" + Device + "): no watchdog driver is loaded")
	ErrHeld = errors.New(Device + " is held by another process (systemd's RuntimeWatchdogSec, a watchdog daemon)")
)

// WDIOF_* options Arm needs (linux/watchdog.h).
const (
	optSetTimeout = 0x0080
	optMagicClose = 0x0100
)

// Armed is a watchdog left running.
type Armed struct {
	Timeout time.Duration
	// Kexec says what a kexec does to it, from StopOnReboot.
	Kexec string
}

// Arm starts the watchdog under root ("/") with timeout and leaves it
// running. A driver that cannot set a timeout or stops on close cannot
// be left running: it is stopped again and Arm says so.
func Arm(root string, timeout time.Duration) (Armed, error) {
	f, err := open(root)
	if err != nil {
		return Armed{}, err
	}
	stop := func(e error) (Armed, error) {
		f.Write([]byte("V"))
		f.Close()
		return Armed{}, e
	}
	opts, err := sys.WatchdogOptions(f)
	if err != nil {
		return stop(err)
	}
	if opts&optSetTimeout == 0 || opts&optMagicClose == 0 {
		return stop(fmt.Errorf("%s cannot be armed across a kexec: its driver has no settable timeout or stops when closed (options %#x)", Device, opts))
	}
	secs, err := sys.WatchdogSetTimeout(f, int((timeout+time.Second-1)/time.Second))
	if err != nil {
		return stop(err)
	}
	if err := sys.WatchdogKeepalive(f); err != nil {
		return stop(err)
	}
	if err := f.Close(); err != nil {
		return Armed{}, fmt.Errorf("closing %s: %w", Device, err)
	}
	return Armed{Timeout: time.Duration(secs) * time.Second, Kexec: KexecKeeps(root)}, nil
}

// KexecKeeps says whether a kexec by this kernel leaves the watchdog
// running, as an operator-readable phrase.
func KexecKeeps(root string) string {
	b, err := os.ReadFile(filepath.Join(root, StopOnReboot))
	switch v := strings.TrimSpace(string(b)); {
	case err != nil:
		return "this kernel's watchdog core has no stop_on_reboot: the driver decides whether a kexec stops it"
	case v == "0":
		return "a kexec leaves it running (watchdog.stop_on_reboot=0)"
	case v == "1":
		return "a kexec STOPS it (watchdog.stop_on_reboot=1): only a panic resets the machine"
	default:
		return "the driver decides whether a kexec stops it (watchdog.stop_on_reboot=" + v + "; boot with watchdog.stop_on_reboot=0 to keep it)"
	}
}

// Disarm stops the watchdog under root with the magic close. ErrNone and
// ErrHeld say there was nothing to stop or someone else keeps it.
func Disarm(root string) error {
	f, err := open(root)
	if err != nil {
		return err
	}
	if _, err := f.Write([]byte("V")); err != nil {
		f.Close()
		return fmt.Errorf("writing the magic close to %s: %w", Device, err)
	}
	return f.Close()
}

func open(root string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(root, Device), os.O_WRONLY, 0)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, ErrNone
	case errors.Is(err, sys.EBUSY):
		return nil, ErrHeld
	case err != nil:
		return nil, fmt.Errorf("opening %s: %w", Device, err)
	}
	return f, nil
}
