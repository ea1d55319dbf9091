package discover

import (
	"errors"
	"fmt"
	"strings"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// ErrNotWritable is a filesystem the bootloader does not write: one whose
// journal needs recovery, an md array or device-mapper volume (assembled
// read-only), a CD, or a type it does not write.
var ErrNotWritable = errors.New("not written by warmboot")

// writable are the filesystem types the bootloader writes its boot
// counting to: the ESP's FAT and /boot's ext.
var writable = map[string]bool{"vfat": true, "ext4": true, "ext3": true, "ext2": true}

// Writable says why m cannot be written, or nil.
func Writable(m Mounted) error {
	switch {
	case m.Dirty:
		return fmt.Errorf("%s: %w: its journal needs recovery", m.Device, ErrNotWritable)
	case strings.HasPrefix(m.Device, "md") || strings.HasPrefix(m.Device, "dm-"):
		return fmt.Errorf("%s: %w: RAID and LVM volumes are assembled read-only", m.Device, ErrNotWritable)
	case !writable[m.FSType]:
		return fmt.Errorf("%s: %w: it is %s (warmboot writes ext and FAT filesystems only)", m.Device, ErrNotWritable, m.FSType)
	}
	return nil
}

// WithWritable remounts m read-write, runs f on its directory, and
// remounts it read-only again (which writes everything out), so the
// filesystem is writable only for as long as f runs.
func WithWritable(m Mounted, f func(dir string) error) error {
	if err := Writable(m); err != nil {
		return err
	}
	flags := MountFlags &^ sys.MS_RDONLY
	if err := sys.Mount("", m.Dir, "", sys.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("%s: remounting read-write: %w", m.Device, err)
	}
	ferr := f(m.Dir)
	if err := sys.Mount("", m.Dir, "", sys.MS_REMOUNT|MountFlags, ""); err != nil {
		return errors.Join(ferr, fmt.Errorf("%s: remounting read-only: %w", m.Device, err))
	}
	return ferr
}
