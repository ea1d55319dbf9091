package grub

import (
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
)

// blsEntry is one BLS file as GRUB's blscfg module reads it.
type blsEntry struct {
	id   string // file name without ".conf"
	file string // path on the volume
	keys map[string][]string
}

func (e *blsEntry) first(k string) (string, bool) {
	v, ok := e.keys[k]
	if !ok {
		return "", false
	}
	return v[0], true
}

// blscfg does what the RHEL family's "blscfg" command does: it reads the
// BLS entries in $blsdir (default /loader/entries, else /boot/loader/entries)
// on the filesystem $root names, sorts them newest first by the
// name-version-release of their file names (rpm's version comparison), and
// adds one menuentry for each, whose body is the script blscfg generates:
//
//	linux ($root)LINUX OPTIONS
//	initrd ($root)INITRD...
//
// OPTIONS is the first "options" line (else $default_kernelopts) with each
// $var replaced by its value and a blank, so "$kernelopts $tuned_params"
// comes from grubenv and an unset variable vanishes when the line is
// split into words. The entry's id is its file name, which is what
// saved_entry holds (grub2-set-default, grubby --set-default).
func (in *interp) blscfg(src entry.Source, menu *[]*item, depth int) {
	vol := in.volume(in.env["root"])
	fsys := in.vols[vol].FS
	dirs := []string{"loader/entries", "boot/loader/entries"}
	if d := in.env["blsdir"]; d != "" {
		dirs = []string{fsPath(d)}
	}
	var dir string
	var names []string
	for _, d := range dirs {
		if st, err := fs.Stat(fsys, d); err == nil && st.IsDir() {
			dir = d
			names, _ = fs.Glob(fsys, path.Join(d, "*.conf"))
			break
		}
	}
	if dir == "" {
		in.warnings = append(in.warnings, entry.Warnf(src, "blscfg: no %s on %s", strings.Join(dirs, " or "), in.where(vol, ".").Device))
		return
	}
	in.consumed = append(in.consumed, in.where(vol, dir).String())
	if len(names) > maxBLSFiles {
		in.warnings = append(in.warnings, entry.Warnf(src, "blscfg: %d entries in %s; reading the first %d", len(names), in.where(vol, dir), maxBLSFiles))
		names = names[:maxBLSFiles]
	}
	var es []*blsEntry
	seen := map[string]bool{}
	for _, n := range names {
		base := path.Base(n)
		if strings.HasPrefix(base, ".") {
			continue
		}
		data, err := cfgfile.Read(fsys, n)
		if err != nil {
			in.warnings = append(in.warnings, entry.Warnf(in.where(vol, n), "%v; skipped", err))
			continue
		}
		e, err := parseBLS(data)
		if err != nil {
			in.warnings = append(in.warnings, cfgfile.At(in.where(vol, n), err, "fix or remove the file").Warning())
			continue
		}
		e.id, e.file = strings.TrimSuffix(base, ".conf"), n
		if seen[e.id] {
			continue
		}
		seen[e.id] = true
		es = append(es, e)
	}
	// Newest first; blscfg drops an entry that compares equal to one it
	// has (the same name-version-release).
	sort.SliceStable(es, func(i, j int) bool { return nvrCompare(es[i].id, es[j].id) > 0 })
	for i, e := range es {
		if i > 0 && nvrCompare(es[i-1].id, e.id) == 0 {
			in.warnings = append(in.warnings, entry.Warnf(in.where(vol, e.file), "the same version as %s; blscfg skips it", es[i-1].id))
			continue
		}
		in.blsItem(vol, e, menu, depth)
		if in.stop != nil {
			return
		}
	}
}

// blsItem adds the menuentry blscfg would make for e.
func (in *interp) blsItem(vol int, e *blsEntry, menu *[]*item, depth int) {
	src := entry.Source{Device: in.vols[vol].Device, File: "/" + e.file, Line: 1}
	if in.items++; in.items > maxItems {
		in.stop = fmt.Errorf("more than %d menu entries: %w", maxItems, errLimit)
		return
	}
	it := &item{id: e.id, src: src}
	linux, hasLinux := e.first("linux")
	it.title, _ = e.first("title")
	if it.title == "" {
		it.title = linux
	}
	if !hasLinux {
		it.why = "has no \"linux\" line"
		if efi, ok := e.first("efi"); ok {
			it.why = fmt.Sprintf("starts the EFI program %s, not a Linux kernel", efi)
		}
		*menu = append(*menu, it)
		return
	}
	options, ok := e.first("options")
	if !ok {
		options = in.env["default_kernelopts"]
	}
	var script strings.Builder
	fmt.Fprintf(&script, "linux ($root)%s %s\n", linux, in.expandBLS(options))
	var initrds []string
	if early := in.env["early_initrd"]; early != "" {
		prefix := linux
		if len(e.keys["initrd"]) > 0 {
			prefix = e.keys["initrd"][0]
		}
		prefix = prefix[:strings.LastIndexByte(prefix, '/')+1]
		for _, f := range strings.Split(early, " ") {
			initrds = append(initrds, prefix+f)
		}
	}
	initrds = append(initrds, e.keys["initrd"]...)
	if len(initrds) > 0 {
		script.WriteString("initrd")
		for _, r := range initrds {
			script.WriteString(" ($root)" + r)
		}
		script.WriteString("\n")
	}
	cmds, err := parse(script.String())
	if err != nil {
		it.why = fmt.Sprintf("makes a GRUB command GRUB cannot parse (%v)", err)
		*menu = append(*menu, it)
		return
	}
	in.body(it, cmds, depth)
	*menu = append(*menu, it)
}

// expandBLS replaces each $name in a BLS value with the variable's value
// and a blank, as blscfg's expand_val does; unset variables vanish.
func (in *interp) expandBLS(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] != '$' {
			b.WriteByte(s[i])
			i++
			continue
		}
		j := i + 1
		for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
			j++
		}
		if v, ok := in.env[s[i+1:j]]; ok && j > i+1 {
			b.WriteString(v)
			b.WriteByte(' ')
		}
		// blscfg also eats one blank after a variable.
		if j < len(s) && s[j] == ' ' {
			j++
		}
		i = j
		if b.Len() > maxValue {
			return b.String()[:maxValue]
		}
	}
	return b.String()
}

// parseBLS reads a BLS file as blscfg does: "key value" lines, the key
// ending at the first blank, comments skipped; a line with no value ends
// the file.
func parseBLS(data []byte) (*blsEntry, error) {
	lines, err := cfgfile.Lines(data)
	if err != nil {
		return nil, err
	}
	e := &blsEntry{keys: map[string][]string{}}
	for _, l := range lines {
		l = strings.TrimLeft(l, " \t")
		if strings.HasPrefix(l, "#") {
			continue
		}
		i := strings.IndexAny(l, " \t")
		if i < 0 || i == len(l)-1 {
			break
		}
		k, v := l[:i], strings.TrimLeft(l[i+1:], " \t")
		e.keys[k] = append(e.keys[k], v)
	}
	return e, nil
}

// nvrCompare compares two BLS ids as blscfg does: split at the last two
// "-" into name, version and release, each compared with rpm's version
// comparison. It returns 1 when a is newer.
func nvrCompare(a, b string) int {
	na, va, ra := splitNVR(a)
	nb, vb, rb := splitNVR(b)
	if c := rpmvercmp(na, nb); c != 0 {
		return c
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c
	}
	return rpmvercmp(ra, rb)
}

// splitNVR splits "name-version-release"; missing parts move up to the
// name, as blscfg's split_package_string does.
func splitNVR(s string) (name, version, release string) {
	i := strings.LastIndexByte(s, '-')
	if i < 0 {
		return s, "", ""
	}
	rest, release := s[:i], s[i+1:]
	j := strings.LastIndexByte(rest, '-')
	if j < 0 {
		return rest, release, ""
	}
	return rest[:j], rest[j+1:], release
}

// rpmvercmp is rpm's version comparison (as GRUB's blscfg carries it):
// alternating runs of digits and letters, separators skipped, "~" sorting
// before anything and "+" after a shorter version; digits beat letters.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	sep := func(c byte) bool { return !isAlnum(c) && c != '~' && c != '+' }
	for len(a) > 0 || len(b) > 0 {
		for len(a) > 0 && sep(a[0]) {
			a = a[1:]
		}
		for len(b) > 0 && sep(b[0]) {
			b = b[1:]
		}
		if (len(a) > 0 && a[0] == '~') || (len(b) > 0 && b[0] == '~') {
			if len(a) == 0 || a[0] != '~' {
				return 1
			}
			if len(b) == 0 || b[0] != '~' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if (len(a) > 0 && a[0] == '+') || (len(b) > 0 && b[0] == '+') {
			if len(a) == 0 {
				return -1
			}
			if len(b) == 0 {
				return 1
			}
			if a[0] != '+' {
				return 1
			}
			if b[0] != '+' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if len(a) == 0 || len(b) == 0 {
			break
		}
		digit := a[0] >= '0' && a[0] <= '9'
		class := func(c byte) bool {
			if digit {
				return c >= '0' && c <= '9'
			}
			return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		}
		i, j := 0, 0
		for i < len(a) && class(a[i]) {
			i++
		}
		for j < len(b) && class(b[j]) {
			j++
		}
		if j == 0 {
			if digit {
				return 1
			}
			return -1
		}
		sa, sb := a[:i], b[:j]
		if digit {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if len(sa) != len(sb) {
				if len(sa) > len(sb) {
					return 1
				}
				return -1
			}
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
		a, b = a[i:], b[j:]
	}
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) == 0:
		return -1
	}
	return 1
}
