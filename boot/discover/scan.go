package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grub"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
	"github.com/warmboot/warmboot/boot/syslinux"
)

// grubenvPaths hold GRUB variables that BLS entries may refer to
// (Fedora's "options $kernelopts").
var grubenvPaths = []string{"grub2/grubenv", "boot/grub2/grubenv", "grub/grubenv", "boot/grub/grubenv"}

// fileFormats are the formats with one config file per location.
var fileFormats = []struct {
	format entry.Format
	paths  []string
	parse  func(fs.FS, string) (*entry.Config, error)
}{
	{entry.GRUB, grub.Paths, grub.Parse},
	{entry.Syslinux, syslinux.Paths, syslinux.Parse},
}

// Looked lists every config location Scan tries, for messages that say
// where warmboot looked.
func Looked() []string {
	out := append([]string(nil), bls.EntryDirs...)
	out = append(out, grub.Paths...)
	return append(out, syslinux.Paths...)
}

// Scan returns every config found on fsys. root is the host directory
// fsys is served from, and device the block device it is on (empty for a
// plain directory); both are recorded in each entry. A config that cannot
// be parsed is returned with no entries and a warning naming the file.
func Scan(fsys fs.FS, root, device string) []*entry.Config {
	var out []*entry.Config
	fail := func(f entry.Format, file string, err error) {
		msg := err.Error()
		if !strings.HasPrefix(msg, "/") {
			msg = "/" + file + ": " + msg
		}
		out = append(out, &entry.Config{Format: f, Source: entry.Source{Device: device, File: "/" + file}, Warnings: []string{msg}})
	}

	vars := map[string]string{}
	for _, p := range grubenvPaths {
		if data, err := cfgfile.Read(fsys, p); err == nil {
			if env, err := grub.ParseEnv(data); err == nil {
				vars = env
				break
			}
		}
	}
	if c, err := bls.Parse(fsys, vars); err == nil {
		out = append(out, c)
	} else if !errors.Is(err, fs.ErrNotExist) {
		fail(entry.BLS, bls.EntryDirs[0], err)
	}
	for _, f := range fileFormats {
		for _, p := range f.paths {
			if !exists(fsys, p) {
				continue
			}
			if c, err := f.parse(fsys, p); err != nil {
				fail(f.format, p, err)
			} else {
				out = append(out, c)
			}
		}
	}
	for _, c := range out {
		c.Source.Device = device
		for i := range c.Entries {
			c.Entries[i].Root = root
			c.Entries[i].Source.Device = device
		}
		if device != "" {
			for i, w := range c.Warnings {
				if len(w) > 0 && w[0] == '/' {
					c.Warnings[i] = device + ":" + w
				}
			}
		}
		if len(c.Entries) == 0 && len(c.Warnings) == 0 {
			c.Warnings = []string{fmt.Sprintf("%s%s: no bootable entries", prefix(device), c.Source.File)}
		}
	}
	return out
}

func prefix(device string) string {
	if device == "" {
		return ""
	}
	return device + ":"
}

func exists(fsys fs.FS, p string) bool {
	st, err := fs.Stat(fsys, p)
	return err == nil && st.Mode().IsRegular()
}
