package discover

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grub"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/syslinux"
)

// Looked lists every config location Scan tries, for messages that say
// where warmboot looked.
func Looked() []string {
	out := append([]string(nil), bls.EntryDirs...)
	for _, d := range bls.Type2Dirs {
		out = append(out, d+"/*.efi")
	}
	out = append(out, grub.Looked()...)
	return append(out, syslinux.Paths...)
}

// Scan returns every config found on the volumes. GRUB configs see all
// volumes, so "search" finds kernels and configs on the others. A config
// another one reads as part of itself (a grub.cfg an ESP's grub.cfg
// sources, the BLS entries GRUB's blscfg imports) is not offered again on
// its own: the menu follows the loader that reads it, with its default
// and timeout. A config that cannot be parsed is returned with no entries
// and a warning naming the file.
func Scan(vols []entry.Volume) []*entry.Config {
	var out []*entry.Config
	for i := range vols {
		out = append(out, scan(vols, i)...)
	}
	consumed := map[string]bool{}
	for _, c := range out {
		for _, k := range c.Consumed {
			if k != c.Source.String() {
				consumed[k] = true
			}
		}
	}
	kept := out[:0]
	for _, c := range out {
		if !consumed[c.Source.String()] {
			kept = append(kept, c)
		}
	}
	return kept
}

// ScanDir is Scan of one directory (warmboot list -root, warmsign -root).
func ScanDir(fsys fs.FS, root string) []*entry.Config {
	return Scan([]entry.Volume{{FS: fsys, Dir: root}})
}

func scan(vols []entry.Volume, self int) []*entry.Config {
	v := vols[self]
	fsys, device := v.FS, v.Device
	var out []*entry.Config
	fail := func(f entry.Format, file string, err error) {
		src := entry.Source{Device: device, File: "/" + file}
		out = append(out, &entry.Config{Format: f, Source: src, Warnings: []entry.Warning{entry.AsWarning(src, err)}})
	}

	vars, warn := grubVars(vols, self)
	if c, err := bls.Parse(fsys, vars); err == nil {
		if warn != nil {
			c.Warnings = append(c.Warnings, *warn)
		}
		out = append(out, c)
	} else if !errors.Is(err, fs.ErrNotExist) {
		fail(entry.BLS, bls.EntryDirs[0], err)
	}
	for _, p := range grub.Find(fsys) {
		if err := configFile(fsys, p); err != nil {
			fail(entry.GRUB, p, err)
		} else if c, err := grub.ParseVolumes(vols, self, p); err != nil {
			fail(entry.GRUB, p, err)
		} else {
			out = append(out, c)
		}
	}
	for _, p := range syslinux.Paths {
		if !safefs.Lexists(fsys, p) {
			continue
		}
		if err := configFile(fsys, p); err != nil {
			fail(entry.Syslinux, p, err)
		} else if c, err := syslinux.Parse(fsys, p); err != nil {
			fail(entry.Syslinux, p, err)
		} else {
			out = append(out, c)
		}
	}
	for _, c := range out {
		c.Source.Device = device
		for i := range c.Entries {
			e := &c.Entries[i]
			if e.Root == "" {
				e.Root = v.Dir
			}
			if e.Source.Device == "" {
				e.Source.Device = device
			}
		}
		for i := range c.Warnings {
			if c.Warnings[i].Source.Device == "" {
				c.Warnings[i].Source.Device = device
			}
		}
		if len(c.Entries) == 0 && len(c.Warnings) == 0 {
			c.Warnings = []entry.Warning{entry.Warnf(c.Source, "no bootable entries")}
		}
	}
	return out
}

// configFile says why p, which exists, cannot be read as a config: a
// symlink out of its filesystem, a FIFO, a device, a directory.
func configFile(fsys fs.FS, p string) error {
	st, err := fs.Stat(fsys, p)
	switch {
	case err != nil:
		return fmt.Errorf("not read: %v (a config must be a file on this filesystem)", err)
	case !st.Mode().IsRegular():
		return fmt.Errorf("not read: it is %s, not a regular file", safefs.Kind(st.Mode()))
	}
	return nil
}
