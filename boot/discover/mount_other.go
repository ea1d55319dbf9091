//go:build !linux

package discover

import (
	"log/slog"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Devices lists block devices: on Linux only.
func Devices() ([]string, error) { return nil, sys.ErrUnsupported }

// MountAll mounts block devices: on Linux only.
func MountAll(dir string, names []string, log *slog.Logger, need func(fstype string)) ([]Mounted, []Probe) {
	return nil, nil
}
