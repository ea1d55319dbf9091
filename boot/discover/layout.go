package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
	"github.com/warmboot/warmboot/boot/mountinfo"
)

// grubenvPaths hold GRUB variables that BLS entries may refer to
// (Fedora's "options $kernelopts") when no grub.cfg reads them.
var grubenvPaths = []string{"grub2/grubenv", "boot/grub2/grubenv", "grub/grubenv", "boot/grub/grubenv"}

// espMounts are where distributions mount the ESP, for a system whose
// fstab is not on any volume (an encrypted root).
var espMounts = []string{"/boot/efi", "/efi"}

// grubVars reads the GRUB environment block the BLS entries on vols[self]
// are expanded with, as GRUB's blscfg would see it, and where it came
// from. It is nil when there is none.
//
// On RHEL 8 and its rebuilds with UEFI, /boot/grub2/grubenv is a symlink
// onto the ESP ("../efi/EFI/redhat/grubenv", made by grub2-tools'
// grub2-switch-to-blscfg), which leaves the filesystem. It is followed as
// the installed system follows it: the link is read against where this
// filesystem is mounted there, and the path it names is looked up on the
// filesystem mounted at its longest leading directory, from the system's
// own /etc/fstab on any volume (by UUID= or LABEL=). Without a fstab that
// names this filesystem, the ESP's usual mount points (/boot/efi, /efi)
// are tried, and the one volume holding the file is read.
func grubVars(vols []entry.Volume, self int) (map[string]string, *entry.Warning) {
	fsys := vols[self].FS
	for _, p := range grubenvPaths {
		read := func() (map[string]string, bool) {
			if data, err := cfgfile.Read(fsys, p); err == nil {
				if env, err := grubenv.Map(data); err == nil {
					return env, true
				}
			}
			return nil, false
		}
		target, lerr := fs.ReadLink(fsys, p)
		if lerr != nil {
			if env, ok := read(); ok {
				return env, nil
			}
			continue
		}
		// A link is followed as the installed system follows it, with
		// its other filesystems mounted: what its mount point hides on
		// this filesystem is not read. Only when no other volume can
		// be named (a directory of configs) is the link read here.
		env, err := linkedGrubenv(vols, self, p, target)
		if err == nil {
			return env, nil
		}
		if env, ok := read(); ok {
			return env, nil
		}
		w := entry.Warnf(entry.Source{Device: vols[self].Device, File: "/" + p}, "a symlink to %s: %v; $kernelopts and the other GRUB variables BLS entries use are empty (mount the filesystem it points to, or make it a file)", target, err)
		return nil, &w
	}
	return nil, nil
}

// linkedGrubenv follows the grubenv symlink p -> target on vols[self]
// onto the volume it points into (see grubVars).
func linkedGrubenv(vols []entry.Volume, self int, p, target string) (map[string]string, error) {
	mounts := systemMounts(vols, self)
	at, ok := mountPoint(mounts, self)
	if !ok {
		// A /boot directory means this is the root filesystem.
		at = "/boot"
		if strings.HasPrefix(p, "boot/") {
			at = "/"
		}
	}
	abs := target
	if !path.IsAbs(target) {
		abs = path.Join(at, path.Dir(p), target)
	}
	abs = path.Clean(abs)
	try := func(vol int, dir string) (map[string]string, error) {
		rel := strings.TrimPrefix(strings.TrimPrefix(abs, dir), "/")
		if rel == "" {
			return nil, fmt.Errorf("%s is a mount point", abs)
		}
		data, err := cfgfile.Read(vols[vol].FS, rel)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", rel, vols[vol].Device, err)
		}
		env, err := grubenv.Map(data)
		if err != nil {
			return nil, fmt.Errorf("%s on %s: %w", rel, vols[vol].Device, err)
		}
		return env, nil
	}
	if len(mounts) > 0 {
		best, dir := -1, ""
		for _, m := range mounts {
			if under(abs, m.dir) && (best < 0 || len(m.dir) > len(dir)) {
				best, dir = m.vol, m.dir
			}
		}
		if best < 0 {
			return nil, fmt.Errorf("%s is on no filesystem this system's fstab names", abs)
		}
		return try(best, dir)
	}
	var errs []error
	for _, dir := range espMounts {
		if !under(abs, dir) || abs == dir {
			continue
		}
		rel := strings.TrimPrefix(abs, dir+"/")
		found := -1
		for v := range vols {
			if v == self {
				continue
			}
			if st, err := fs.Stat(vols[v].FS, rel); err == nil && st.Mode().IsRegular() {
				if found >= 0 {
					return nil, fmt.Errorf("%s is on both %s and %s, and no fstab says which is %s", rel, vols[found].Device, vols[v].Device, dir)
				}
				found = v
			}
		}
		if found >= 0 {
			return try(found, dir)
		}
		errs = append(errs, fmt.Errorf("no other filesystem found holds %s (the one mounted at %s on the installed system)", rel, dir))
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("%s is on no filesystem warmboot can name (no fstab names this filesystem)", abs)
	}
	return nil, errors.Join(errs...)
}

// under says whether p is dir or beneath it.
func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}

// sysMount is a volume at a mount point of its installed system.
type sysMount struct {
	dir string
	vol int
}

func mountPoint(ms []sysMount, vol int) (string, bool) {
	for _, m := range ms {
		if m.vol == vol {
			return m.dir, true
		}
	}
	return "", false
}

// systemMounts is the mount table of the installed system vols[self]
// belongs to, its filesystems matched to volumes by UUID or label: the
// /etc/fstab of a root filesystem (a fstab whose / is another volume, as a
// stick's naming the host's root would be, is not its system's) that
// mounts vols[self] at / or /boot, else at any mount point. It is nil
// when no such fstab names vols[self].
func systemMounts(vols []entry.Volume, self int) []sysMount {
	var other []sysMount
	for v := range vols {
		data, err := cfgfile.Read(vols[v].FS, "etc/fstab")
		if err != nil {
			continue
		}
		var ms []sysMount
		for _, f := range ParseFstab(data) {
			for w := range vols {
				if f.Names(vols[w].UUID, vols[w].Label) {
					ms = append(ms, sysMount{dir: f.Dir, vol: w})
				}
			}
		}
		foreign := false
		for _, m := range ms {
			foreign = foreign || (m.dir == "/" && m.vol != v)
		}
		if foreign {
			// Its / is another volume (by UUID or label): not the
			// fstab of the system whose root holds it. A / named
			// otherwise (/dev/mapper/rhel-root) is taken to be its own.
			continue
		}
		switch at, ok := mountPoint(ms, self); {
		case ok && (at == "/" || at == "/boot"):
			return ms
		case ok && other == nil:
			other = ms
		}
	}
	return other
}

// FstabEntry is one filesystem line of /etc/fstab.
type FstabEntry struct {
	Spec, Dir, Type string
}

// Names says whether the entry's device is the filesystem with this UUID
// or label: UUID=, LABEL= and their /dev/disk/by-uuid, by-label forms.
// Other specs (/dev/sda2, /dev/mapper/rhel-root, PARTUUID=) name nothing
// warmboot can match without the installed system's udev.
func (e FstabEntry) Names(uuid, label string) bool {
	s := e.Spec
	switch {
	case strings.HasPrefix(s, "UUID="):
		return uuid != "" && strings.EqualFold(strings.Trim(s[5:], `"`), uuid)
	case strings.HasPrefix(s, "/dev/disk/by-uuid/"):
		return uuid != "" && strings.EqualFold(s[len("/dev/disk/by-uuid/"):], uuid)
	case strings.HasPrefix(s, "LABEL="):
		return label != "" && strings.Trim(s[6:], `"`) == label
	case strings.HasPrefix(s, "/dev/disk/by-label/"):
		return label != "" && s[len("/dev/disk/by-label/"):] == label
	}
	return false
}

// maxFstabEntries bounds what a hostile fstab costs.
const maxFstabEntries = 1024

// ParseFstab reads the filesystem lines of an fstab(5): blank-separated
// fields, "#" comments, octal escapes (\040) in the spec and mount point;
// swap and lines with fewer than two fields are skipped.
func ParseFstab(data []byte) []FstabEntry {
	var out []FstabEntry
	for _, l := range strings.Split(string(data), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' {
			continue
		}
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		e := FstabEntry{Spec: mountinfo.Unescape(f[0]), Dir: mountinfo.Unescape(f[1])}
		if len(f) > 2 {
			e.Type = f[2]
		}
		if !strings.HasPrefix(e.Dir, "/") || e.Type == "swap" {
			continue
		}
		e.Dir = path.Clean(e.Dir)
		if out = append(out, e); len(out) >= maxFstabEntries {
			break
		}
	}
	return out
}
