package discover

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/mountinfo"
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

// BootloaderWritable says why the bootloader could not write the file at
// path (absolute, as the running system under root names it), or nil:
// the filesystem holding it, as the running system mounts it, is one the
// bootloader does not write (Writable: XFS, btrfs, a RAID or LVM volume).
// The running system writes it; the bootloader, after a kexec or a reset,
// must write it too (to record a trial, use up a one-shot entry, count a
// BLS entry).
func BootloaderWritable(root, path string) error {
	ms, err := mountinfo.Read(root)
	if err != nil {
		return err
	}
	var best *mountinfo.Mount
	for i, m := range ms {
		if (path == m.Dir || strings.HasPrefix(path, strings.TrimSuffix(m.Dir, "/")+"/")) && (best == nil || len(m.Dir) >= len(best.Dir)) {
			best = &ms[i]
		}
	}
	if best == nil {
		return fmt.Errorf("%s is on no mounted filesystem", path)
	}
	dev := strings.TrimPrefix(best.Source, "/dev/")
	switch {
	case strings.HasPrefix(dev, "mapper/"):
		dev = "dm-" + strings.TrimPrefix(dev, "mapper/")
	case strings.HasPrefix(dev, "md/"):
		dev = "md-" + strings.TrimPrefix(dev, "md/")
	}
	if err := Writable(Mounted{Device: dev, FSType: best.FSType}); err != nil {
		return fmt.Errorf("%s (on %s, mounted at %s): %w", path, best.Source, best.Dir, err)
	}
	return nil
}
