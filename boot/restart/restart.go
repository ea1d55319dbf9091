// Package restart decides how a restart happens (warmswap -mode, issue
// 24): systemd's soft-reboot when the target boots exactly what runs
// (same kernel and initrds by digest, same command line), so only
// userspace restarts; a kexec otherwise; the firmware when kexec is not
// safe on this machine for that kernel (a device that did not come back
// after an earlier kexec) or when asked. Pure: the caller gathers the
// facts, Decide says which and why.
package restart

import (
	"fmt"
	"slices"
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

// Boot is what a kernel boots, as restart compares it.
type Boot struct {
	Kernel  [32]byte
	Initrds [][32]byte
	Cmdline string
}

func (b Boot) same(o Boot) bool {
	return b.Kernel == o.Kernel && slices.Equal(b.Initrds, o.Initrds) && b.Cmdline == o.Cmdline
}

// Facts are what the decision depends on.
type Facts struct {
	Asked   Mode
	Running Boot
	Target  Boot
	// SoftReboot says the running systemd can soft-reboot (v254+ as PID 1).
	SoftReboot bool
	// Unsafe, when not empty, is why kexec into the target is not safe on
	// this machine (the record of a device that did not survive one).
	Unsafe string
}

// Decision is how to restart, and why.
type Decision struct {
	Mode Mode
	Why  string
}

// Decide picks the mode, or refuses (an error saying why and what to do)
// when the mode asked for cannot be done.
func Decide(f Facts) (Decision, error) {
	same := f.Running.same(f.Target)
	switch f.Asked {
	case Firmware:
		return Decision{Firmware, "asked for (-mode firmware)"}, nil
	case Soft:
		switch {
		case !same:
			return Decision{}, fmt.Errorf("-mode soft restarts userspace only, and the target boots another kernel, initrd or command line than the running one: use -mode kexec or auto")
		case !f.SoftReboot:
			return Decision{}, fmt.Errorf("-mode soft needs systemd 254 or later as PID 1 (systemctl soft-reboot): use -mode kexec or auto")
		}
		return Decision{Soft, "asked for (-mode soft): the target is the running kernel"}, nil
	case Kexec:
		if f.Unsafe != "" {
			return Decision{}, fmt.Errorf("-mode kexec refused: %s; use -mode firmware, or clear the record once the driver is fixed", f.Unsafe)
		}
		return Decision{Kexec, "asked for (-mode kexec)"}, nil
	case Auto, "":
	default:
		return Decision{}, fmt.Errorf("-mode %q: want auto, kexec, soft or firmware", f.Asked)
	}
	switch {
	case same && f.SoftReboot:
		return Decision{Soft, "the target is the running kernel, initrds and command line: only userspace restarts (systemctl soft-reboot)"}, nil
	case f.Unsafe != "":
		return Decision{Firmware, f.Unsafe + ": through the firmware instead of kexec"}, nil
	case same:
		return Decision{Kexec, "the target is the running kernel, but systemd here cannot soft-reboot (v254+): kexec"}, nil
	}
	return Decision{Kexec, "the target boots another kernel, initrd or command line: kexec"}, nil
}
