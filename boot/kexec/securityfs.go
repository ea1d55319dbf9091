package kexec

import (
	"os"
	"path/filepath"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// MountSecurityFS mounts securityfs at sys/kernel/security under root
// ("/" on a machine) if it is not there yet, so that ReadKernelState can
// see the lockdown mode.
func MountSecurityFS(root string) error {
	dir := filepath.Join(root, "sys/kernel/security")
	if _, err := os.Stat(filepath.Join(dir, "lockdown")); err == nil {
		return nil
	}
	return sys.Mount("securityfs", dir, "securityfs", 0, "")
}
