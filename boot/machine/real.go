package machine

import "github.com/warmboot/warmboot/boot/internal/sys"

// Real is the running machine.
type Real struct{}

// Kexec implements Machine.
func (Real) Kexec() error { return sys.RebootKexec() }

// Reboot implements Machine.
func (Real) Reboot() error { return sys.Restart() }

// Unload implements Machine.
func (Real) Unload() error { return sys.KexecUnload() }

// Loaded implements Machine: /sys/kernel/kexec_loaded.
func (Real) Loaded() bool { return sys.KexecLoaded() }
