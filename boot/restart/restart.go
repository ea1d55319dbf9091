// Package restart decides how a restart happens (warmswap -mode, issue
// 24): systemd's soft-reboot when the target boots exactly what runs
// (the same kernel and initrds by digest, the same command line: state's
// Boots), so only userspace restarts; a kexec otherwise; the firmware
// when asked, when this machine must never kexec (/etc/warmboot/never-kexec)
// or when kexec into the target's kernel is not safe here (a device did
// not come back after an earlier kexec: Unsafe). Decide is pure: the
// caller (package swap, for every warmswap mode) gathers the facts.
package restart

import (
	"fmt"
)

// Mode is how a restart happens.
type Mode string

// The modes warmswap -mode takes.
const (
	Auto     Mode = "auto"
	Kexec    Mode = "kexec"
	Soft     Mode = "soft"
	Firmware Mode = "firmware"
)

// ParseMode reads -mode's value.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case Auto, Kexec, Soft, Firmware:
		return m, nil
	}
	return "", fmt.Errorf("-mode %q: want auto, kexec, soft or firmware", s)
}

// Facts are what the decision depends on.
type Facts struct {
	Asked Mode
	// Running and Target are what the running entry and the target
	// boot: state.Boots, the digest of the kernel, the initrds and the
	// command line. Running is "" when it is not known (then the target
	// is never taken for the running kernel).
	Running, Target string
	// SoftReboot says the running systemd can soft-reboot (v254+ as PID 1).
	SoftReboot bool
	// NeverKexec, when not empty, is why this machine must never kexec.
	NeverKexec string
	// Unsafe, when not empty, is why kexec into the target's kernel is
	// not safe on this machine (a device that did not survive one).
	Unsafe string
	// DevicesLost, when not empty, is why this boot's devices are not
	// all working (its own device check failed): only the firmware's
	// POST brings them back, whatever the target.
	DevicesLost string
}

// Same says the target boots exactly what runs.
func (f Facts) Same() bool { return f.Running != "" && f.Running == f.Target }

// Decision is how to restart, and why.
type Decision struct {
	Mode Mode
	Why  string
}

func (d Decision) String() string { return string(d.Mode) + ": " + d.Why }

// Decide picks the mode, or refuses (an error saying why and what to do)
// when the mode asked for cannot be done.
func Decide(f Facts) (Decision, error) {
	same := f.Same()
	switch f.Asked {
	case Firmware:
		return Decision{Firmware, "asked for (-mode firmware)"}, nil
	case Soft:
		switch {
		case !same:
			return Decision{}, fmt.Errorf("-mode soft restarts userspace only, and the target does not boot the running kernel, initrds and command line: use -mode kexec or auto")
		case !f.SoftReboot:
			return Decision{}, fmt.Errorf("-mode soft needs systemd 254 or later as PID 1 (systemctl soft-reboot): use -mode kexec or auto")
		}
		return Decision{Soft, "asked for (-mode soft): the target boots the running kernel, initrds and command line"}, nil
	case Kexec:
		switch {
		case f.DevicesLost != "":
			return Decision{}, fmt.Errorf("-mode kexec refused: %s; use -mode firmware or auto", f.DevicesLost)
		case f.NeverKexec != "":
			return Decision{}, fmt.Errorf("-mode kexec refused: %s; use -mode firmware or auto", f.NeverKexec)
		case f.Unsafe != "":
			return Decision{}, fmt.Errorf("-mode kexec refused: %s; use -mode firmware, or clear the record once the driver is fixed", f.Unsafe)
		}
		return Decision{Kexec, "asked for (-mode kexec)"}, nil
	case Auto, "":
	default:
		return Decision{}, fmt.Errorf("-mode %q: want auto, kexec, soft or firmware", f.Asked)
	}
	switch {
	case f.DevicesLost != "":
		return Decision{Firmware, f.DevicesLost + ": through the firmware, whose POST brings them back"}, nil
	case same && f.SoftReboot:
		return Decision{Soft, "the target boots the running kernel, initrds and command line: only userspace restarts (systemctl soft-reboot)"}, nil
	case f.NeverKexec != "":
		return Decision{Firmware, f.NeverKexec + ": rebooting through the firmware instead"}, nil
	case f.Unsafe != "":
		return Decision{Firmware, f.Unsafe + ": through the firmware instead of kexec"}, nil
	case same:
		return Decision{Kexec, "the target boots the running kernel, but systemd here cannot soft-reboot (v254+ as PID 1): kexec"}, nil
	}
	return Decision{Kexec, "the target boots another kernel, initrd or command line than the running one: kexec"}, nil
}
