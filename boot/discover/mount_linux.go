//go:build linux

package discover

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/u-root/u-root/pkg/mount"
	"github.com/u-root/u-root/pkg/mount/block"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/safefs"
)

// Mounted is a filesystem mounted read-only for scanning.
type Mounted struct {
	Device string // "vda2"
	Dir    string
	FSType string
	ID     FSID // from the superblock, for GRUB's search
}

// Volume serves m as a volume for Scan, through safefs.
func (m Mounted) Volume() entry.Volume {
	return entry.Volume{FS: safefs.Dir(m.Dir), Dir: m.Dir, Device: m.Device, UUID: m.ID.UUID, Label: m.ID.Label}
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

// Devices lists block device names from /sys/class/block, sorted.
func Devices() ([]string, error) {
	devs, err := block.GetBlockDevices()
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w", err)
	}
	var names []string
outer:
	for _, d := range devs {
		for _, s := range skip {
			if strings.HasPrefix(d.Name, s) {
				continue outer
			}
		}
		// A member of an md array or an LVM volume is read through
		// the array or volume, never on its own.
		if hs, _ := os.ReadDir(filepath.Join("/sys/class/block", d.Name, "holders")); len(hs) > 0 {
			continue
		}
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names, nil
}

// MountAll mounts each named device read-only under dir/<name>. Devices
// with no filesystem warmboot can mount (a disk holding a partition table,
// swap) are reported in the probes and skipped. need, if not nil, is
// called with a filesystem type the kernel does not know yet ("xfs"), so
// its module can be loaded before the mount.
func MountAll(dir string, names []string, log *slog.Logger, need func(fstype string)) ([]Mounted, []Probe) {
	var mounted []Mounted
	var probes []Probe
	for _, name := range names {
		target := filepath.Join(dir, name)
		if err := os.MkdirAll(target, 0o755); err != nil {
			probes = append(probes, Probe{name, err.Error()})
			continue
		}
		devPath := filepath.Join("/dev", name)
		head := readHead(devPath)
		id, _ := ParseFSID(head)
		if need != nil && id.Type != "" && id.Type != "ext" && mount.FindFileSystem(id.Type) != nil {
			need(id.Type)
		}
		fstype, extra, err := mount.FSFromBlock(devPath)
		var mp *mount.MountPoint
		var note string
		if err == nil {
			data := ""
			if j, _ := ParseExtSuperblock(head[min(len(head), 1024):]); j.Journal {
				// Never write a disk, not even a journal replay on a
				// read-only mount: GRUB does not replay either.
				data = "norecovery"
				if j.NeedsRecovery {
					note = "; its journal needs recovery (not cleanly unmounted): read without replaying it, so the newest writes may be missing"
				}
			}
			mp, err = mount.Mount(devPath, target, fstype, data, extra|MountFlags)
		}
		if err != nil {
			os.Remove(target)
			probes = append(probes, Probe{name, "not mounted: " + shortErr(err)})
			log.Debug("not mounting", "device", name, "err", err)
			continue
		}
		mounted = append(mounted, Mounted{Device: name, Dir: target, FSType: mp.FSType, ID: id})
		if note != "" {
			log.Warn(name + " (" + mp.FSType + ")" + note)
		}
		probes = append(probes, Probe{name, mp.FSType + ", mounted read-only" + note})
	}
	return mounted, probes
}

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
	mps, err := sys.Mounts(dir)
	if err != nil {
		return err
	}
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
