//go:build linux

package discover

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/warmboot/warmboot/boot/clog"

	"github.com/u-root/u-root/pkg/mount"
)

// Devices lists block device names from /sys/class/block, sorted. Only
// the names: u-root's block.GetBlockDevices opens every device to read
// its filesystem UUID, which the discovery loop, calling this several
// times a pass, does not use (the payload's discover phase on the demo
// disk went from 383–403 ms to 269–278 ms under TCG).
func Devices() ([]string, error) {
	des, err := os.ReadDir("/sys/class/block")
	if err != nil {
		return nil, fmt.Errorf("listing block devices: %w", err)
	}
	var names []string
outer:
	for _, d := range des {
		name := d.Name()
		for _, s := range skip {
			if strings.HasPrefix(name, s) {
				continue outer
			}
		}
		// A member of an md array or an LVM volume is read through
		// the array or volume, never on its own.
		if hs, _ := os.ReadDir(filepath.Join("/sys/class/block", name, "holders")); len(hs) > 0 {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

// MountAll mounts each named device read-only under dir/<name>. Devices
// with no filesystem warmboot can mount (a disk holding a partition table,
// swap) are reported in the probes and skipped. need, if not nil, is
// called with a filesystem type the kernel does not know yet ("xfs"), so
// its module can be loaded before the mount. log (nil discards) gets a
// warning for a journal that needs recovery.
func MountAll(dir string, names []string, log *slog.Logger, need func(fstype string)) ([]Mounted, []Probe) {
	log = clog.Or(log)
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
		var note, data string
		var dirty bool
		if err == nil {
			if j, _ := ParseExtSuperblock(head[min(len(head), 1024):]); j.Journal && j.NeedsRecovery {
				// Never write a disk, not even a journal replay on a
				// read-only mount: GRUB does not replay either. (A
				// clean journal has nothing to replay.)
				data, dirty = "norecovery", true
				note = "; its journal needs recovery (not cleanly unmounted): read without replaying it, so the newest writes may be missing"
			}
			mp, err = mount.Mount(devPath, target, fstype, data, extra|MountFlags)
		}
		if err != nil {
			os.Remove(target)
			probes = append(probes, Probe{name, "not mounted: " + shortErr(err)})
			log.Debug("not mounting", "device", name, "err", err)
			continue
		}
		mounted = append(mounted, Mounted{Device: name, Dir: target, FSType: mp.FSType, ID: id, Dirty: dirty})
		if note != "" {
			log.Warn(name + " (" + mp.FSType + ")" + note)
		}
		probes = append(probes, Probe{name, mp.FSType + ", mounted read-only" + note})
	}
	return mounted, probes
}
