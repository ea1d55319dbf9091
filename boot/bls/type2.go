package bls

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/uki"
)

// Type2Dirs are where Type #2 entries (unified kernel images) are looked
// for, relative to a filesystem root, as EntryDirs: an ESP or XBOOTLDR
// partition, or a root filesystem whose /boot is a directory.
var Type2Dirs = []string{"EFI/Linux", "boot/EFI/Linux"}

// Bounds on one directory of Type #2 entries and their add-ons.
const (
	MaxUKIs   = 256
	MaxAddons = 64
)

// parseType2 reads the unified kernel images in dir (one of Type2Dirs) as
// systemd-boot lists them (boot_entry_add_type2): every *.efi file not
// starting with "." or "auto-", one entry per profile, titled from .osrel
// (and the profile's TITLE=), its id the file name without a boot
// counter ("@ID" added for profiles after the first). An image that
// cannot be read or parsed is a warning naming it.
func parseType2(fsys fs.FS, dir string) ([]entry.Entry, []entry.Warning) {
	ents, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, nil
	}
	var out []entry.Entry
	var warns []entry.Warning
	n := 0
	for _, de := range ents {
		name := de.Name()
		lower := strings.ToLower(name)
		if !strings.HasSuffix(lower, ".efi") || strings.HasPrefix(name, ".") || strings.HasPrefix(lower, "auto-") || de.IsDir() {
			continue
		}
		file := path.Join(dir, name)
		src := entry.Source{File: "/" + file}
		if n++; n > MaxUKIs {
			warns = append(warns, entry.Warnf(src, "more than %d images in /%s; the rest are not listed", MaxUKIs, dir))
			break
		}
		// A profile that cannot be read is a warning; the image's other
		// profiles are still listed.
		es, err := readType2(fsys, dir, name)
		if err != nil {
			warns = append(warns, entry.Warnf(src, "%v; fix or remove the file", err))
		}
		out = append(out, es...)
	}
	return out, warns
}

func readType2(fsys fs.FS, dir, name string) ([]entry.Entry, error) {
	file := path.Join(dir, name)
	u, r, closer, err := openUKI(fsys, file)
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	base, c, counted := ParseCounter(name)
	id := base + path.Ext(name)
	tries := -1
	if counted {
		tries = c.Left
	}
	addons, err := findAddons(fsys, dir, id)
	if err != nil {
		return nil, err
	}
	var out []entry.Entry
	var errs []error
	for i := range u.NumProfiles() {
		info, err := u.Describe(r, i)
		if err != nil {
			// systemd-boot skips the profile, not the image.
			if len(u.Profiles) > 0 {
				err = fmt.Errorf("profile %d: %w", i, err)
			}
			errs = append(errs, err)
			continue
		}
		// An add-on for another kernel (.uname) is skipped, as sd-stub
		// skips it.
		var paths, cmdlines []string
		for _, a := range addons {
			if a.uname != "" && info.Uname != "" && a.uname != info.Uname {
				continue
			}
			paths = append(paths, a.path)
			if a.cmdline != "" {
				cmdlines = append(cmdlines, a.cmdline)
			}
		}
		addonCmdline := strings.Join(cmdlines, " ")
		e := entry.Entry{
			ID: id, Format: entry.BLS, Kernel: "/" + file, Source: entry.Source{File: "/" + file},
			Version: info.Version, SortKey: info.SortKey, TriesLeft: tries,
			UKI: &entry.UKI{Profile: i, ProfileID: info.ProfileID, Sections: info.Sections, Addons: paths, EmbeddedCmdline: info.HasCmdline},
		}
		e.Label = strings.TrimSpace(info.Title + " " + firstOf(info.Uname, info.Version))
		switch {
		case info.ProfileTitle != "":
			e.Label += " (" + info.ProfileTitle + ")"
		case i > 0 && info.ProfileID != "":
			e.Label += " (" + info.ProfileID + ")"
		case i > 0:
			e.Label += fmt.Sprintf(" (Profile #%d)", i+1)
		}
		if i > 0 {
			if info.ProfileID != "" {
				e.ID += "@" + info.ProfileID
			} else {
				e.ID += "@" + strconv.Itoa(i)
			}
		}
		e.Cmdline = strings.TrimSpace(info.Cmdline + " " + addonCmdline)
		out = append(out, e)
	}
	return out, errors.Join(errs...)
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

// openUKI opens and parses a UKI or add-on on fsys.
func openUKI(fsys fs.FS, file string) (*uki.UKI, io.ReaderAt, io.Closer, error) {
	f, err := fsys.Open(file)
	if err != nil {
		return nil, nil, nil, err
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file")
	}
	r, ok := f.(io.ReaderAt)
	if err == nil && !ok {
		err = fmt.Errorf("cannot be read at an offset")
	}
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	u, err := uki.Open(r, st.Size())
	if err != nil {
		f.Close()
		return nil, nil, nil, err
	}
	return u, r, f, nil
}

// AddonDirs are where add-ons for the image id (its file name without a
// boot counter) in dir are looked for, in the order sd-stub applies them
// (load_all_addons): the global directory, then the image's own.
func AddonDirs(dir, id string) []string {
	global := path.Join(path.Dir(path.Dir(dir)), "loader/addons")
	return []string{global, path.Join(dir, id+".extra.d")}
}

type addon struct{ path, cmdline, uname string }

// findAddons lists the add-ons of the image id in dir, each directory
// sorted by name, with their command lines and the kernel release they
// are for (.uname, empty for any). An add-on that cannot be parsed, or
// carries a kernel, makes the image an error: sd-stub would refuse it,
// and booting without it would boot something else than what was
// installed.
func findAddons(fsys fs.FS, dir, id string) ([]addon, error) {
	var out []addon
	for _, d := range AddonDirs(dir, id) {
		ents, err := fs.ReadDir(fsys, d)
		if err != nil {
			continue
		}
		var names []string
		for _, de := range ents {
			n := de.Name()
			if !de.IsDir() && !strings.HasPrefix(n, ".") && strings.HasSuffix(strings.ToLower(n), ".addon.efi") {
				names = append(names, n)
			}
		}
		sort.Strings(names)
		for _, n := range names {
			if len(out) == MaxAddons {
				return nil, fmt.Errorf("more than %d add-ons", MaxAddons)
			}
			file := path.Join(d, n)
			a, err := readAddon(fsys, file)
			if err != nil {
				return nil, fmt.Errorf("add-on /%s: %w", file, err)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

func readAddon(fsys fs.FS, file string) (addon, error) {
	u, r, closer, err := openUKI(fsys, file)
	if err != nil {
		return addon{}, err
	}
	defer closer.Close()
	a := addon{path: "/" + file}
	if a.cmdline, err = Addon(u, r); err != nil {
		return addon{}, err
	}
	if s, ok := u.Base[uki.Uname]; ok {
		un, err := uki.Text(r, s)
		if err != nil {
			return addon{}, err
		}
		a.uname = strings.TrimSpace(un)
	}
	return a, nil
}

// Addon checks an add-on as sd-stub does (it carries no kernel) and
// returns its command line, cleaned, empty without one.
func Addon(u *uki.UKI, r io.ReaderAt) (string, error) {
	if _, ok := u.Base[uki.Linux]; ok {
		return "", fmt.Errorf("it carries a kernel (%s): an add-on may not", uki.Linux)
	}
	s, ok := u.Base[uki.Cmdline]
	if !ok {
		return "", nil
	}
	c, err := uki.Text(r, s)
	return uki.CleanCmdline(c), err
}

// Explicit makes e, a kernel named directly (entry.NewExplicit), the
// entry of the unified kernel image it names when the file is one: a PE
// image (as every EFI-stub kernel is too) that parses as a UKI and
// carries a kernel in a .linux section. It boots profile 0, with no
// add-ons (none are looked for beside a file named on a command line),
// its command line the image's unless cmdlineSet. A UKI carries its
// initrd, so initrds named beside it are an error. Any other file is
// returned unchanged, for staging to check as a kernel.
func Explicit(e entry.Entry, cmdlineSet bool) (entry.Entry, error) {
	fsys := safefs.Dir(e.Root)
	defer fsys.Close()
	u, r, closer, err := openUKI(fsys, strings.TrimPrefix(e.Kernel, "/"))
	if err != nil {
		return e, nil // not a UKI; staging says what is wrong with it
	}
	defer closer.Close()
	if _, ok := u.Base[uki.Linux]; !ok && (len(u.Profiles) == 0 || !hasLinux(u.Profiles[0])) {
		return e, nil // an EFI-stub kernel
	}
	if len(e.Initrds) > 0 {
		return e, fmt.Errorf("%s is a unified kernel image, which carries its initrd: name no initrd with it", e.At(e.Kernel))
	}
	info, err := u.Describe(r, 0)
	if err != nil {
		return e, fmt.Errorf("%s: %w", e.At(e.Kernel), err)
	}
	e.UKI = &entry.UKI{ProfileID: info.ProfileID, Sections: info.Sections, EmbeddedCmdline: info.HasCmdline}
	if !cmdlineSet {
		e.Cmdline = info.Cmdline
	}
	return e, nil
}

func hasLinux(p map[string]uki.Section) bool {
	_, ok := p[uki.Linux]
	return ok
}
