package swap

import (
	"errors"

	"github.com/warmboot/warmboot/boot/choose"
)

// Sentinels.
var (
	ErrNotRoot  = errors.New("warmswap must run as root (it needs CAP_SYS_BOOT to kexec)")
	ErrKexecOff = errors.New("kexec is disabled on this kernel: kernel.kexec_load_disabled=1, which stays set until reboot; use a normal reboot")
	ErrNoEntry  = choose.ErrNoEntry
	// ErrUnprotected: the target's trial would go unguarded on the
	// firmware's path.
	ErrUnprotected = errors.New("nothing protects the trial")
)
