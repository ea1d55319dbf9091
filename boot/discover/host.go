package discover

import (
	"path/filepath"
	"sort"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/mountinfo"
	"github.com/warmboot/warmboot/boot/safefs"
)

// BlockMount is a block-device filesystem of a running system at its
// shortest mount point.
type BlockMount struct {
	Dir    string // "/boot", as the running system sees it
	Device string // "nvme0n1p2", as the mount table names it
	Dev    string // its device number, "259:2"
}

// BlockMounts lists the block-device filesystems mounted on a running
// system, each once, at its shortest mount point, sorted by mount point.
// root prefixes /proc (a test's directory; "/" on a real system).
func BlockMounts(root string) ([]BlockMount, error) {
	ms, err := mountinfo.Read(root)
	if err != nil {
		return nil, err
	}
	best := map[string]mountinfo.Mount{}
	for _, m := range ms {
		if !strings.HasPrefix(m.Source, "/dev/") || mountinfo.Virtual(m.FSType) {
			continue
		}
		dev := strings.TrimPrefix(m.Source, "/dev/")
		if b, ok := best[dev]; !ok || len(m.Dir) < len(b.Dir) {
			best[dev] = m
		}
	}
	out := make([]BlockMount, 0, len(best))
	for dev, m := range best {
		out = append(out, BlockMount{Dir: m.Dir, Device: dev, Dev: m.Dev})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Dir < out[j].Dir })
	return out, nil
}

// MountOf is where the running system under root mounted device, a
// kernel name as the bootloader sees it ("vda1", "dm-0", "md127"): its
// shortest mount point, and false when it is not mounted. A mount is
// matched by the kernel name of its device number (/sys/dev/block/MAJ:MIN),
// whatever its source is called: "/dev/root" for a root the kernel
// mounted itself, /dev/mapper/vg-boot for dm-0, /dev/md/boot for md127;
// else by the name its source's link resolves to; or by the source's own
// name, as the running system calls it ("mapper/vg-boot"). root prefixes
// /proc, /sys and /dev.
func MountOf(root, device string) (string, bool, error) {
	mounts, err := BlockMounts(root)
	if err != nil {
		return "", false, err
	}
	dir, found := "", false
	for _, m := range mounts {
		if (m.Device == device || kernelName(root, m) == device) && (!found || len(m.Dir) < len(dir)) {
			dir, found = m.Dir, true
		}
	}
	return dir, found, nil
}

// kernelName is the kernel's name for a mounted device: by its device
// number, else its source's link resolved, else its source's name.
func kernelName(root string, m BlockMount) string {
	if m.Dev != "" {
		if p, err := filepath.EvalSymlinks(filepath.Join(root, "sys/dev/block", m.Dev)); err == nil {
			return filepath.Base(p)
		}
	}
	if p, err := filepath.EvalSymlinks(filepath.Join(root, "dev", m.Device)); err == nil {
		return filepath.Base(p)
	}
	return m.Device
}

// HostVolumes returns the block-device filesystems mounted on a running
// system at or beneath dir ("/" for all of them), each once (at its
// shortest mount point), with the UUID and label read from its device, so
// that a scan on the running system sees what the bootloader will see on
// the disks: GRUB's search finds the same filesystems, an ESP mounted at
// /boot/efi is a volume of its own. root prefixes every path (a test's
// directory; "/" on a real system).
func HostVolumes(root, dir string) ([]entry.Volume, error) {
	mounts, err := BlockMounts(root)
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var vols []entry.Volume
	for _, m := range mounts {
		if dir != "/" && m.Dir != dir && !strings.HasPrefix(m.Dir, dir+"/") {
			continue
		}
		host := filepath.Join(root, m.Dir)
		id := ReadFSID(filepath.Join(root, "dev", m.Device))
		vols = append(vols, entry.Volume{FS: safefs.Dir(host), Dir: host, Device: m.Device, UUID: id.UUID, Label: id.Label})
	}
	return vols, nil
}

// ScanRoot scans dir as "warmboot list -root" and "warmsign -root" do: when
// dir is where a block device is mounted, with every filesystem mounted at
// or beneath it as a volume of its own (so an ESP at /boot/efi is read as
// the bootloader reads it); otherwise dir alone, as a directory of configs.
func ScanRoot(dir string) []*entry.Config {
	abs, err := filepath.Abs(dir)
	if err == nil {
		if vols, err := HostVolumes("/", abs); err == nil && len(vols) > 0 && vols[0].Dir == abs {
			return Scan(vols)
		}
	}
	return ScanDir(safefs.Dir(dir), dir)
}
