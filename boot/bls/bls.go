// Package bls reads Boot Loader Specification Type #1 entries
// (loader/entries/*.conf) and systemd-boot's loader.conf, and orders them as
// the specification says.
//
// We do not use u-root's pkg/boot/bls: in v0.16.0 its loader.conf default
// never matches (it tests `err != nil && ok` after filepath.Match), it orders
// entries by reverse file name instead of sort-key/machine-id/version, keeps
// only the first initrd and the last "options" line, opens every kernel at
// parse time, and cannot say which file and line an entry came from.
package bls

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
	"github.com/warmboot/warmboot/boot/internal/vercmp"
)

// EntryDirs are where entries are looked for, relative to a filesystem
// root: the root is $BOOT itself (an ESP, XBOOTLDR or separate /boot
// partition), or /boot is a directory on it.
//
// Paths in entries under loader/entries are relative to that filesystem,
// as the specification says. Under boot/loader/entries, on a root
// filesystem whose /boot is a directory, two writers disagree, and each
// path is read as the one loader that reads it there would:
//   - a path that starts with /boot/ is relative to the filesystem's root.
//     The RHEL family's kernel-install plugin (grub2's 20-grub.install)
//     writes "linux /boot/vmlinuz-..." when /boot is not its own
//     partition, because GRUB's blscfg reads entries as "linux ($root)PATH"
//     with $root the filesystem holding them (grub-core/commands/blscfg.c,
//     create_entry and GRUB_BOOT_DEVICE). Prefixing /boot again would look
//     for /boot/boot/vmlinuz-...;
//   - any other path is relative to /boot ($BOOT), as systemd's
//     kernel-install writes it ("linux /MACHINE-ID/VERSION/linux").
var EntryDirs = []string{"loader/entries", "boot/loader/entries"}

// Parse reads the BLS entries under fsys (a filesystem root). It returns
// fs.ErrNotExist when there is no entries directory with at least one
// .conf file. vars expands "$name" words in options lines (Fedora's
// grubenv kernelopts); it may be nil.
//
// Type #2 entries (unified kernel images in Type2Dirs) are listed with
// the Type #1 entries and sorted with them, as systemd-boot does.
func Parse(fsys fs.FS, vars map[string]string) (*entry.Config, error) {
	var t2 []entry.Entry
	var t2warns []entry.Warning
	t2dir := ""
	for _, dir := range Type2Dirs {
		es, ws := parseType2(fsys, dir)
		if len(es) > 0 || len(ws) > 0 {
			t2, t2warns, t2dir = append(t2, es...), append(t2warns, ws...), dir
		}
	}
	for _, dir := range EntryDirs {
		names, err := fs.Glob(fsys, path.Join(dir, "*.conf"))
		if err != nil || len(names) == 0 {
			continue
		}
		prefix := path.Dir(path.Dir(dir)) // "." or "boot"
		return parseDir(fsys, dir, prefix, names, vars, t2, t2warns), nil
	}
	if t2dir != "" {
		// The loader directory beside EFI/Linux holds loader.conf.
		dir := path.Join(path.Dir(path.Dir(t2dir)), "loader/entries")
		cfg := parseDir(fsys, dir, "", nil, vars, t2, t2warns)
		cfg.Source = entry.Source{File: "/" + t2dir}
		return cfg, nil
	}
	return nil, fs.ErrNotExist
}

func parseDir(fsys fs.FS, dir, prefix string, names []string, vars map[string]string, t2 []entry.Entry, t2warns []entry.Warning) *entry.Config {
	cfg := &entry.Config{Format: entry.BLS, Source: entry.Source{File: "/" + dir}}
	cfg.Entries = append(cfg.Entries, t2...)
	cfg.Warnings = append(cfg.Warnings, t2warns...)
	for _, name := range names {
		data, err := cfgfile.Read(fsys, name)
		if err != nil {
			cfg.Warnings = append(cfg.Warnings, cfgfile.At(entry.Source{File: "/" + name}, err, "").Warning())
			continue
		}
		e, err := ParseEntry(path.Base(name), data, vars)
		if err != nil {
			cfg.Warnings = append(cfg.Warnings, cfgfile.At(entry.Source{File: "/" + name}, err, "fix or remove the file").Warning())
			continue
		}
		e.Source.File = "/" + name
		e.Kernel = rooted(prefix, e.Kernel)
		for i := range e.Initrds {
			e.Initrds[i] = rooted(prefix, e.Initrds[i])
		}
		cfg.Entries = append(cfg.Entries, *e)
	}
	Sort(cfg.Entries)

	conf := path.Join(path.Dir(dir), "loader.conf")
	var def string
	loader, err := cfgfile.Read(fsys, conf)
	if err == nil {
		var timeout *time.Duration
		var warns []entry.Warning
		def, timeout, warns = parseLoaderConf("/"+conf, loader)
		cfg.Warnings = append(cfg.Warnings, warns...)
		cfg.Timeout = timeout
	} else if vars["saved_entry"] != "" {
		// No loader.conf: these are GRUB's blscfg entries, and GRUB
		// boots its grubenv's saved_entry (grubby --set-default), an
		// id, a title or a number (normal/menu.c
		// get_entry_number_helper). Its next_entry is not honoured:
		// GRUB empties it as it boots, which nothing here would.
		id := vars["saved_entry"]
		for i, e := range cfg.Entries {
			if e.ID == id {
				cfg.Default = i
				return cfg
			}
		}
		for i, e := range cfg.Entries {
			if strings.TrimSuffix(e.Label, " "+e.Version) == id {
				cfg.Default = i
				return cfg
			}
		}
		if n, err := strconv.Atoi(id); err == nil && n >= 0 && n < len(cfg.Entries) {
			cfg.Default = n
			return cfg
		}
		cfg.Warnings = append(cfg.Warnings, entry.Warnf(cfg.Source, "saved_entry %q in grubenv matches no entry; using %q", id, idOr(cfg.Entries, 0)))
		return cfg
	}
	if def != "" {
		if i := matchDefault(cfg.Entries, def); i >= 0 {
			cfg.Default = i
		} else {
			cfg.Warnings = append(cfg.Warnings, entry.Warnf(entry.Source{File: "/" + conf}, "default %q matches no entry; using %q", def, idOr(cfg.Entries, 0)))
		}
	}
	return cfg
}

func idOr(es []entry.Entry, i int) string {
	if i < len(es) {
		return es[i].ID
	}
	return ""
}

// rooted makes an entry path absolute on the filesystem: BLS paths are
// relative to $BOOT whether or not they start with "/", except a path
// that already names /boot on a filesystem whose /boot is a directory
// (see EntryDirs).
func rooted(prefix, p string) string {
	if prefix == "boot" && strings.HasPrefix(path.Clean("/"+p), "/boot/") {
		return path.Clean("/" + p)
	}
	return path.Join("/", prefix, p)
}

// ParseEntry parses one Type #1 entry file. name is its file name, which
// gives the entry ID and its boot-counting state.
func ParseEntry(name string, data []byte, vars map[string]string) (*entry.Entry, error) {
	id, tries := splitName(name)
	e := &entry.Entry{ID: id, Format: entry.BLS, TriesLeft: tries, Source: entry.Source{File: name, Line: 1}}
	var title, arch string
	var opts []string
	lines, err := cfgfile.Lines(data)
	if err != nil {
		return nil, err
	}
	for i, raw := range lines {
		line := i + 1
		text := strings.TrimSpace(raw)
		if text == "" || text[0] == '#' {
			continue
		}
		key, val, _ := strings.Cut(text, " ")
		if k2, v2, ok := strings.Cut(text, "\t"); ok && len(k2) < len(key) {
			key, val = k2, v2
		}
		val = strings.TrimSpace(val)
		switch key {
		case "title":
			title = cfgfile.Label(val)
		case "version":
			e.Version = val
		case "machine-id":
			e.MachineID = val
		case "sort-key":
			e.SortKey = val
		case "linux":
			e.Kernel = val
		case "initrd":
			// One path per line, though some generators put several
			// on one line, and the RHEL family's add a variable
			// ("initrd /initramfs-X.img $tuned_initrd") that GRUB
			// expands to more paths or none.
			e.Initrds = append(e.Initrds, strings.Fields(expand(val, vars))...)
		case "options":
			opts = append(opts, expand(val, vars))
		case "architecture":
			arch = val
		case "devicetree", "devicetree-overlay":
			return nil, cfgfile.LineErrorf(line, "%s is not supported on this platform", key)
		case "efi":
			return nil, cfgfile.LineErrorf(line, "%s entries start EFI programs, which a LinuxBoot loader cannot run", key)
		case "uki", "uki-url":
			return nil, cfgfile.LineErrorf(line, "%s entries are not read yet: put the unified kernel image in /EFI/Linux, where it is a Type #2 entry", key)
		}
	}
	if arch != "" && !strings.EqualFold(arch, "x64") {
		return nil, fmt.Errorf("architecture %s is not x64", arch)
	}
	if e.Kernel == "" {
		return nil, fmt.Errorf("no \"linux\" line: the entry has no kernel")
	}
	e.Cmdline = strings.Join(strings.Fields(strings.Join(opts, " ")), " ")
	e.Label = strings.TrimSpace(title + " " + e.Version)
	if title == "" {
		e.Label = cfgfile.Label(id)
	}
	return e, nil
}

// expand replaces "$name" and "${name}" words from vars; unknown
// variables expand to nothing, as GRUB's blscfg does.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	words := strings.Fields(s)
	for i, w := range words {
		if name, ok := strings.CutPrefix(w, "$"); ok {
			name = strings.TrimSuffix(strings.TrimPrefix(name, "{"), "}")
			words[i] = vars[name]
		}
	}
	return strings.Join(words, " ")
}

// splitName turns "fedora-6.1+2-1.conf" into ID "fedora-6.1" and 2 tries
// left; without a "+LEFT[-DONE]" counter, tries is -1.
func splitName(name string) (id string, tries int) {
	id, c, ok := ParseCounter(name)
	if !ok {
		return id, -1
	}
	return id, c.Left
}

// Sort orders entries as the Boot Loader Specification says: entries with
// no tries left last; entries with a sort-key before those without,
// ordered by sort-key, then machine-id (both increasing), then version
// (newest first); finally by ID, newest version first.
func Sort(es []entry.Entry) {
	sort.SliceStable(es, func(i, j int) bool { return less(&es[i], &es[j]) })
}

func less(a, b *entry.Entry) bool {
	if ab, bb := a.TriesLeft == 0, b.TriesLeft == 0; ab != bb {
		return bb
	}
	if (a.SortKey != "") != (b.SortKey != "") {
		return a.SortKey != ""
	}
	if a.SortKey != "" {
		if a.SortKey != b.SortKey {
			return a.SortKey < b.SortKey
		}
		if a.MachineID != b.MachineID {
			return a.MachineID < b.MachineID
		}
		if c := vercmp.Compare(a.Version, b.Version); c != 0 {
			return c > 0
		}
	}
	if c := vercmp.Compare(baseID(a), baseID(b)); c != 0 {
		return c > 0
	}
	return profile(a) < profile(b)
}

// baseID is e's id without a UKI's "@PROFILE": a UKI's profiles sort
// together, in their order in the image.
func baseID(e *entry.Entry) string {
	if e.UKI != nil {
		if i := strings.IndexByte(e.ID, '@'); i >= 0 {
			return e.ID[:i]
		}
	}
	return e.ID
}

func profile(e *entry.Entry) int {
	if e.UKI != nil {
		return e.UKI.Profile
	}
	return 0
}

// matchDefault returns the first entry (in sorted order) whose ID matches
// the glob, as systemd-boot does; the pattern may carry ".conf".
func matchDefault(es []entry.Entry, pattern string) int {
	for i, e := range es {
		for _, id := range []string{e.ID, e.ID + ".conf"} {
			if ok, _ := path.Match(pattern, id); ok {
				return i
			}
		}
	}
	return -1
}

func parseLoaderConf(file string, data []byte) (def string, timeout *time.Duration, warns []entry.Warning) {
	for n, text := range strings.Split(string(data), "\n") {
		text = strings.TrimSpace(text)
		if text == "" || text[0] == '#' {
			continue
		}
		f := strings.Fields(text)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "default":
			def = f[1]
			if strings.HasPrefix(def, "@") {
				warns = append(warns, entry.Warnf(entry.Source{File: file, Line: n + 1}, "default %s needs EFI variables, which warmboot does not read; ignored", def))
				def = ""
			}
		case "timeout":
			if f[1] == "menu-force" || f[1] == "menu-hidden" || f[1] == "menu-disabled" {
				continue
			}
			s, err := strconv.Atoi(f[1])
			if err != nil || s < 0 {
				warns = append(warns, entry.Warnf(entry.Source{File: file, Line: n + 1}, "timeout %q is not a number of seconds; ignored", f[1]))
				continue
			}
			d := time.Duration(s) * time.Second
			timeout = &d
		}
	}
	return def, timeout, warns
}
