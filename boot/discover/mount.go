package discover

import (
	"fmt"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/mountinfo"
	"github.com/warmboot/warmboot/boot/safefs"
)

// Mounted is a filesystem mounted read-only for scanning.
type Mounted struct {
	Device string // "vda2"
	Dir    string
	FSType string
	ID     FSID // from the superblock, for GRUB's search
	// Dirty is a journal that needs recovery: mounted without replaying
	// it, and never written.
	Dirty bool
}

// Volume serves m as a volume for Scan, through safefs.
func (m Mounted) Volume() entry.Volume {
	return entry.Volume{FS: safefs.Dir(m.Dir), Dir: m.Dir, Device: m.Device, UUID: m.ID.UUID, Label: m.ID.Label, Unwritable: Writable(m)}
}

// MountFlags are the flags every disk is mounted with: read-only, and
// nothing on it is a device, a set-id program or an executable to the
// bootloader.
const MountFlags = sys.MS_RDONLY | sys.MS_NODEV | sys.MS_NOSUID | sys.MS_NOEXEC

// Probe is what was found on one block device, for the message shown when
// nothing can be booted.
type Probe struct {
	Device string
	Result string // "ext4, mounted" or why it was not used
}

// skip are device kinds that never hold boot configs.
var skip = []string{"loop", "ram", "zram", "nbd"}

func shortErr(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "from magics"):
		return s + " (the kernel has no driver for it: add its module to the image)"
	case strings.Contains(s, "no suitable filesystem"):
		return "no filesystem (a partition table, swap, or unformatted)"
	}
	return s
}

// UnmountAll unmounts everything under dir, deepest first, detaching what
// is busy. It is called before kexec so no filesystem is left mounted.
func UnmountAll(dir string) error {
	ms, err := mountinfo.Read("/")
	if err != nil {
		return err
	}
	mps := mountinfo.Under(ms, dir)
	var errs []string
	for _, mp := range mps {
		if err := sys.Unmount(mp, 0); err != nil {
			if err2 := sys.Unmount(mp, sys.MNT_DETACH); err2 != nil {
				errs = append(errs, err2.Error())
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("unmounting: %s", strings.Join(errs, "; "))
	}
	return nil
}
