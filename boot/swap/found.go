package swap

import (
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/mountinfo"
	"github.com/warmboot/warmboot/boot/state"
)

// found is where this system found the target, for the bootloader's fast
// path (handoff.Found): the UUIDs of the filesystems holding the menu's
// configs and the entries' files, the boot state's, and every ESP's (the
// bootloader looks for the state on an ESP first), with what the target
// boots and the menu's entry ids; and the other filesystems mounted here
// (HostMenu scanned them: no configs), which the bootloader need not
// read. nil, and the bootloader looks on every
// disk, when one of those filesystems has no UUID warmboot reads, or
// what the target boots is not known.
func found(root string, p *Plan) *handoff.Found {
	if p.targetBoots == "" {
		return nil
	}
	mounts, err := discover.BlockMounts(root)
	if err != nil {
		return nil
	}
	// Each filesystem's superblock, read once.
	fsid := map[string]discover.FSID{}
	for _, m := range mounts {
		fsid[m.Device] = discover.ReadFSID(filepath.Join(root, "dev", m.Device))
	}
	var uuids []string
	add := func(m discover.BlockMount) bool {
		id := fsid[m.Device]
		if id.UUID == "" {
			return false
		}
		if !slices.Contains(uuids, id.UUID) {
			uuids = append(uuids, id.UUID)
		}
		return true
	}
	// under is the filesystem holding host path dir: its longest mount
	// point (mounts are sorted by it).
	under := func(dir string) (discover.BlockMount, bool) {
		var best discover.BlockMount
		ok := false
		for _, m := range mounts {
			if m.Dir == "/" || dir == m.Dir || strings.HasPrefix(dir, m.Dir+"/") {
				best, ok = m, true
			}
		}
		return best, ok
	}
	need := func(dir string) bool {
		m, ok := under(dir)
		return ok && add(m)
	}
	var ids []string
	for _, e := range p.Menu.Entries {
		ids = append(ids, e.ID)
		dev := e.Source.Device
		i := slices.IndexFunc(mounts, func(m discover.BlockMount) bool { return m.Device == dev })
		if i < 0 || !add(mounts[i]) {
			return nil
		}
		if rel, err := filepath.Rel(root, e.Root); err != nil || !need("/"+filepath.ToSlash(rel)) {
			return nil
		}
	}
	if !need(state.HostFile(root)) {
		return nil
	}
	for _, m := range mounts {
		if fsid[m.Device].Type == "vfat" && state.IsESP(os.DirFS(filepath.Join(root, m.Dir))) {
			add(m)
		}
	}
	// Others: what HostMenu scanned whole. A bind mount of a directory
	// or a btrfs subvolume shows part of a filesystem, and the
	// bootloader mounts btrfs's default subvolume, which may be another
	// system's root: those are read by the bootloader as they are
	// without the fast path.
	whole := map[string]bool{}
	if ms, err := mountinfo.Read(root); err == nil {
		for _, m := range ms {
			if m.Root == "/" && m.FSType != "btrfs" && strings.HasPrefix(m.Source, "/dev/") {
				whole[strings.TrimPrefix(m.Source, "/dev/")] = true
			}
		}
	}
	var others []string
	for _, m := range mounts {
		if !whole[m.Device] {
			continue
		}
		if u := fsid[m.Device].UUID; u != "" && !slices.Contains(uuids, u) && !slices.Contains(others, u) {
			others = append(others, u)
		}
	}
	return &handoff.Found{Volumes: uuids, Boots: p.targetBoots, Entries: handoff.MenuIDs(ids), Others: others, USB: usbFilesystems(root)}
}

// usbFilesystems are the UUIDs of the filesystems on the block devices
// under root's /sys that sit on USB, mounted or not.
func usbFilesystems(root string) []string {
	des, err := os.ReadDir(filepath.Join(root, "sys/class/block"))
	if err != nil {
		return nil
	}
	var out []string
	for _, d := range des {
		target, err := os.Readlink(filepath.Join(root, "sys/class/block", d.Name()))
		if err != nil || !strings.Contains(target, "/usb") {
			continue
		}
		if id := discover.ReadFSID(filepath.Join(root, "dev", d.Name())); id.UUID != "" && !slices.Contains(out, id.UUID) {
			out = append(out, id.UUID)
		}
	}
	return out
}
