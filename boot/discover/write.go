package discover

import (
	"errors"
	"fmt"
	"os"
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

// WithWritable remounts m read-write, runs f on it (an os.Root, so
// nothing f names resolves outside the filesystem), and remounts it
// read-only again (which writes everything out), so the filesystem is
// writable only for as long as f runs.
func WithWritable(m Mounted, f func(fsys *os.Root) error) error {
	if err := Writable(m); err != nil {
		return err
	}
	flags := MountFlags &^ sys.MS_RDONLY
	if err := sys.Mount("", m.Dir, "", sys.MS_REMOUNT|flags, ""); err != nil {
		return fmt.Errorf("%s: remounting read-write: %w", m.Device, err)
	}
	ferr := InRoot(m.Dir, f)
	if err := sys.Mount("", m.Dir, "", sys.MS_REMOUNT|MountFlags, ""); err != nil {
		return errors.Join(ferr, fmt.Errorf("%s: remounting read-only: %w", m.Device, err))
	}
	return ferr
}

// InRoot runs f on the directory dir as an os.Root.
func InRoot(dir string, f func(fsys *os.Root) error) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return f(r)
}
