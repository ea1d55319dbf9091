// Package grub reads GRUB 2 configuration files (grub.cfg), the GRUB
// environment block (grubenv) and, through GRUB's "blscfg" command, the Boot
// Loader Specification entries that the RHEL family's GRUB imports.
//
// GRUB configs are scripts, so this package has a small interpreter for what
// generated configs use: variables (unquoted ones split into words, as GRUB
// does), "set", functions, "if"/"elif"/"else" with "[ ... ]" tests (-a, -o,
// !, string and integer comparisons, file tests), "load_env", "search"
// (--fs-uuid, --label, --file) across every filesystem the bootloader sees,
// "source"/"configfile", "blscfg", and "menuentry" and "submenu" blocks.
// Everything else (insmod, gfx commands) is skipped. Entries are never
// executed, only read: a menuentry's "linux" and "initrd" commands become the
// entry's kernel, command line and initrds, with the command line rebuilt as
// GRUB's linux command passes it (BOOT_IMAGE= first, arguments with blanks
// quoted).
//
// The interpreter's work is bounded (nesting, sourced files, commands run,
// function calls, variable sizes): a hostile config is reported with the
// limit it hit, and the other configs still boot.
//
// We do not use u-root's pkg/boot/grub: it imports pkg/curl (and with it
// net/http, crypto/tls and a TFTP client, ~3.5 MB of the initramfs) to
// fetch files, which a local-disk loader that must fit in SPI flash cannot
// afford, it does not follow blscfg or search, and it does not report the
// file and line an entry came from.
package grub

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
	"github.com/warmboot/warmboot/boot/safefs"
)

// Paths are where grub.cfg is looked for, relative to a filesystem root,
// besides EFI/*/grub.cfg on an ESP (see Find).
var Paths = []string{
	"boot/grub/grub.cfg", "grub/grub.cfg", "boot/grub2/grub.cfg", "grub2/grub.cfg",
}

// globs find the grub.cfg of every distribution's directory on an ESP
// (EFI/redhat, EFI/centos, EFI/rocky, EFI/ubuntu, EFI/opensuse...) and of a
// system installed in a btrfs subvolume ("@/boot/grub/grub.cfg", GRUB's
// prefix when Ubuntu installs onto btrfs).
var globs = []string{"EFI/*/grub.cfg", "*/boot/grub/grub.cfg", "*/boot/grub2/grub.cfg"}

// Find returns the grub.cfg names on fsys, in the order they are read:
// every name that exists, whatever it is; the caller refuses what is not a
// regular file within the filesystem, and says so.
func Find(fsys fs.FS) []string {
	var out []string
	for _, p := range Paths {
		if safefs.Lexists(fsys, p) {
			out = append(out, p)
		}
	}
	for _, g := range globs {
		ms, _ := fs.Glob(fsys, g)
		sort.Strings(ms)
		out = append(out, ms...)
	}
	return out
}

// Looked lists the places Find tries, for messages.
func Looked() []string { return append(append([]string(nil), Paths...), globs...) }

func regular(fsys fs.FS, p string) bool {
	st, err := fs.Stat(fsys, p)
	return err == nil && st.Mode().IsRegular()
}

// Limits on the interpreter's work. Generated configs stay far below each.
const (
	maxDepth    = 8       // source/configfile nesting
	maxSteps    = 200_000 // commands run in all
	maxCalls    = 32      // function call depth
	maxItems    = 4096    // menu entries and submenus
	maxValue    = 64 << 10
	maxBLSFiles = 1024
)

// errLimit stops the interpreter: the config is too big or loops.
var errLimit = errors.New("limit reached")

// item is a top-level or submenu menu item, in config order.
type item struct {
	title, id string
	src       entry.Source
	sub       []*item      // submenu items
	isSub     bool         // a submenu
	entry     *entry.Entry // nil if the menuentry boots no Linux kernel
	why       string       // why entry is nil
}

type interp struct {
	vols []entry.Volume
	// names maps GRUB device names ("hd0,gpt2", or what search set) to
	// volumes. A name never resolved means the current file's volume.
	names    map[string]int
	cur      int // volume of the file being run
	env      map[string]string
	funcs    map[string]cmd
	warnings []entry.Warning
	defLine  entry.Source // where "default" was last set
	consumed []string
	envWrite []entry.EnvWrite
	steps    int
	calls    int
	items    int
	stop     error // set when a limit is hit: nothing more runs
}

// Parse reads the GRUB config at name (a path in fsys, which is rooted at
// the filesystem the config lives on). Paths in the config are resolved on
// the same filesystem.
func Parse(fsys fs.FS, name string) (*entry.Config, error) {
	return ParseVolumes([]entry.Volume{{FS: fsys}}, 0, name)
}

// ParseVolumes reads the GRUB config at name on vols[self]. "search" finds
// the other volumes by UUID, label or file, so kernels and configs on
// another filesystem (an ESP's grub.cfg whose kernels are on /boot) are
// found where GRUB would find them; a device GRUB names that no search
// resolved ("hd0,gpt2") is taken to be the config's own filesystem.
func ParseVolumes(vols []entry.Volume, self int, name string) (*entry.Config, error) {
	in := &interp{vols: vols, names: map[string]int{}, cur: self, funcs: map[string]cmd{}, env: map[string]string{
		"prefix":           "/" + path.Dir(name),
		"config_directory": "/" + path.Dir(name),
		"config_file":      "/" + name,
		"root":             "",
		// GRUB sets these itself; generated configs test them.
		"feature_menuentry_id":         "y",
		"feature_default_font_path":    "y",
		"feature_all_video_module":     "y",
		"feature_platform_search_hint": "y",
		"feature_timeout_style":        "y",
		"grub_cpu":                     "x86_64",
		"grub_platform":                "pc",
	}}
	var menu []*item
	if err := in.source(self, name, &menu, nil, 0); err != nil {
		return nil, err
	}
	src := entry.Source{Device: vols[self].Device, File: "/" + name}
	if in.stop != nil {
		in.warnings = append(in.warnings, entry.Warnf(src, "%v; the entries read before it are kept", in.stop))
	}
	cfg := &entry.Config{Format: entry.GRUB, Source: src, Consumed: in.consumed, EnvWrites: in.envWrite}
	flat := map[*item]int{}
	var walk func(items []*item, titles, steps []string)
	walk = func(items []*item, titles, steps []string) {
		for _, it := range items {
			t := append(append([]string(nil), titles...), it.title)
			step := it.id
			if step == "" {
				step = it.title
			}
			p := append(append([]string(nil), steps...), step)
			if it.isSub {
				walk(it.sub, t, p)
				continue
			}
			if it.entry == nil {
				in.warnings = append(in.warnings, entry.Warnf(it.src, "menuentry %q %s; skipped", it.title, it.why))
				continue
			}
			e := *it.entry
			e.Label = cfgfile.Label(strings.Join(t, " > "))
			e.ID = it.id
			if e.ID == "" {
				e.ID = strings.Join(t, ">")
			}
			e.MenuPath = strings.Join(p, ">")
			flat[it] = len(cfg.Entries)
			cfg.Entries = append(cfg.Entries, e)
		}
	}
	walk(menu, nil, nil)
	if len(cfg.Entries) == 0 {
		cfg.Warnings = in.warnings
		return cfg, nil
	}
	if def := in.env["default"]; def != "" {
		it := resolve(menu, def)
		switch i, ok := flat[it]; {
		case it == nil:
			in.warnings = append(in.warnings, entry.Warnf(in.defLine, "default %q matches no menu entry; using %q", def, cfg.Entries[0].Label))
		case !ok:
			in.warnings = append(in.warnings, entry.Warnf(in.defLine, "default %q names an entry that cannot boot; using %q", def, cfg.Entries[0].Label))
		default:
			cfg.Default = i
		}
	}
	if t, err := strconv.Atoi(strings.TrimSpace(in.env["timeout"])); err == nil && t >= 0 {
		d := time.Duration(t) * time.Second
		cfg.Timeout = &d
	}
	cfg.Warnings = in.warnings
	return cfg, nil
}

// resolve finds the menu item a "default" value names, the way GRUB does:
// ">"-separated steps through submenus, each a number, a title or an id.
func resolve(menu []*item, def string) *item {
	level := menu
	var found *item
	for _, step := range strings.Split(def, ">") {
		found = nil
		if n, err := strconv.Atoi(step); err == nil {
			if n >= 0 && n < len(level) {
				found = level[n]
			}
		} else {
			for _, it := range level {
				if it.title == step || (it.id != "" && it.id == step) {
					found = it
					break
				}
			}
		}
		if found == nil {
			return nil
		}
		level = found.sub
	}
	// A default naming a submenu boots its first entry.
	for found != nil && found.isSub {
		if len(found.sub) == 0 {
			return nil
		}
		found = found.sub[0]
	}
	return found
}

// fsPath turns a GRUB path without its device into a path in the
// filesystem.
func fsPath(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// locate splits a GRUB path ("(hd0,gpt2)/vmlinuz", "($root)/x" after
// expansion, "/x" on $root) into the volume and the path on it.
func (in *interp) locate(p string) (int, string) {
	dev := in.env["root"]
	if strings.HasPrefix(p, "(") {
		if i := strings.IndexByte(p, ')'); i >= 0 {
			dev, p = p[1:i], p[i+1:]
		}
	}
	return in.volume(dev), fsPath(p)
}

func (in *interp) volume(dev string) int {
	if v, ok := in.names[dev]; ok {
		return v
	}
	return in.cur
}

// where names a file for messages: "nvme0n1p1:/EFI/redhat/grub.cfg".
func (in *interp) where(vol int, p string) entry.Source {
	return entry.Source{Device: in.vols[vol].Device, File: "/" + p}
}

func (in *interp) source(vol int, name string, menu *[]*item, body *bodyState, depth int) error {
	if depth > maxDepth {
		return &entry.SourceError{Source: in.where(vol, name), Err: fmt.Errorf("source/configfile nested deeper than %d", maxDepth)}
	}
	data, err := cfgfile.Read(in.vols[vol].FS, name)
	if err != nil {
		return err
	}
	if _, err := cfgfile.Lines(data); err != nil {
		return cfgfile.At(in.where(vol, name), err, "fix or remove the file")
	}
	cmds, err := parse(string(data))
	if err != nil {
		return cfgfile.At(in.where(vol, name), err, "fix the config")
	}
	prev := in.cur
	in.cur = vol
	in.run(cmds, in.where(vol, name), menu, body, depth)
	in.cur = prev
	return nil
}

// bodyState collects what a menuentry's body would load.
type bodyState struct {
	kernel  string
	args    []string
	initrds []string
	other   string // a non-Linux loader command (chainloader, multiboot)
}

// expand turns a word into the arguments it makes: unquoted variables are
// split at blanks and an unquoted empty variable makes no argument at all,
// as in GRUB ("linux /vmlinuz $kernelopts $tuned_params").
func (in *interp) expand(w word, out []string) []string {
	var b strings.Builder
	have := false // b holds an argument, even an empty quoted one
	for _, p := range w.parts {
		if p.varRef == "" {
			b.WriteString(p.lit)
			have = true
			continue
		}
		v := in.env[p.varRef]
		if p.quoted {
			b.WriteString(v)
			have = true
			continue
		}
		for i, f := range splitBlanks(v) {
			if i > 0 || startsBlank(v) {
				if have {
					out = append(out, b.String())
				}
				b.Reset()
				have = false
			}
			b.WriteString(f)
			have = true
		}
		if endsBlank(v) && have {
			out = append(out, b.String())
			b.Reset()
			have = false
		}
	}
	if have || len(w.parts) == 0 && !w.bare {
		// A word that held anything, or a quoted "" (no parts at all).
		out = append(out, b.String())
	}
	return out
}

func splitBlanks(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\n' })
}

func startsBlank(s string) bool { return s != "" && strings.IndexByte(" \t\n", s[0]) >= 0 }
func endsBlank(s string) bool   { return s != "" && strings.IndexByte(" \t\n", s[len(s)-1]) >= 0 }

func (in *interp) args(ws []word) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = in.expand(w, out)
	}
	// A function passing its argument on doubled ($1$1) grows it with
	// every call: bounded here as set bounds a variable.
	n := 0
	for _, a := range out {
		n += len(a)
	}
	if n > maxValue && in.stop == nil {
		in.stop = fmt.Errorf("a command's arguments are longer than %d bytes: %w", maxValue, errLimit)
	}
	return out
}

// run executes cmds and reports the status of the last one.
func (in *interp) run(cmds []cmd, file entry.Source, menu *[]*item, body *bodyState, depth int) bool {
	status := true
	for _, c := range cmds {
		if in.stop != nil {
			return false
		}
		if in.steps++; in.steps > maxSteps {
			in.stop = fmt.Errorf("stopped after %d commands (a loop, or not a generated config): %w", maxSteps, errLimit)
			return false
		}
		status = in.exec(c, file, menu, body, depth)
	}
	return status
}

func (in *interp) exec(c cmd, file entry.Source, menu *[]*item, body *bodyState, depth int) bool {
	src := entry.Source{Device: file.Device, File: file.File, Line: c.line}
	switch c.kind {
	case "if":
		for _, cl := range c.clauses {
			if cl.isElse || in.run(cl.cond, file, menu, body, depth) {
				return in.run(cl.body, file, menu, body, depth)
			}
		}
		return true
	case "function":
		if len(c.words) > 0 {
			in.funcs[c.words[0].literal()] = c
		}
		return true
	case "loop":
		return true
	case "hiddenentry":
		// openSUSE's GRUB: an entry its menu never shows, run by its
		// hotkey (95_textmode's "Text mode"). Nothing to offer.
		return true
	case "menuentry", "submenu":
		if menu == nil {
			// Inside a menuentry's body: GRUB would define it only once
			// that entry runs, which a boot never does here.
			in.warnings = append(in.warnings, entry.Warnf(src, "%s inside a menuentry is only defined when that entry runs; skipped", c.kind))
			return true
		}
		in.menuItem(c, src, menu, depth)
		return true
	}
	if len(c.words) == 0 {
		return true
	}
	args := in.args(c.words)
	if len(args) == 0 {
		return true
	}
	if k, v, ok := strings.Cut(args[0], "="); ok && len(args) == 1 && isName(k) && assignment(c.words[0], k) {
		// A bare "name=value" command assigns, as "set" does.
		in.set(k, v, src)
		return true
	}
	if f, ok := in.funcs[args[0]]; ok {
		return in.call(f, args, file, menu, body, depth)
	}
	switch args[0] {
	case "set":
		for _, a := range args[1:] {
			if k, v, ok := strings.Cut(a, "="); ok {
				in.set(k, v, src)
			}
		}
		return true
	case "unset":
		for _, a := range args[1:] {
			delete(in.env, a)
		}
		return true
	case "save_env":
		in.saveEnv(args[1:])
		return true
	case "export", "insmod", "echo", "true", "terminal_output", "terminal_input",
		"loadfont", "load_video", "set_gfxmode", "gfxmode", "background_image", "play", "sleep":
		return true
	case "false":
		return false
	case "load_env":
		return in.loadEnv(args[1:])
	case "[":
		if len(args) < 2 || args[len(args)-1] != "]" {
			return false
		}
		return in.test(args[1 : len(args)-1])
	case "test":
		return in.test(args[1:])
	case "search", "search.fs_uuid", "search.fs_label", "search.file":
		return in.search(args)
	case "blscfg", "bls_import":
		in.blscfg(src, menu, depth)
		return true
	case "source", ".", "configfile":
		if len(args) < 2 {
			return false
		}
		if args[0] == "configfile" && body != nil {
			// In a menuentry, configfile replaces the menu with another
			// one when the entry is chosen (snapper's read-only
			// snapshots): the entry boots nothing itself.
			body.other = "configfile " + args[1]
			return true
		}
		vol, p := in.locate(args[1])
		if args[0] == "configfile" {
			in.env["config_directory"], in.env["config_file"] = "/"+path.Dir(p), "/"+p
		}
		if err := in.source(vol, p, menu, body, depth+1); err != nil {
			in.warnings = append(in.warnings, entry.Warnf(src, "%s %s: %v", args[0], args[1], err))
			return false
		}
		in.consumed = append(in.consumed, in.where(vol, p).String())
		return true
	}
	if body == nil {
		return false
	}
	switch args[0] {
	case "linux", "linux16", "linuxefi", "kernel":
		if len(args) < 2 {
			return false
		}
		body.kernel, body.args = args[1], args[2:]
		return true
	case "initrd", "initrd16", "initrdefi":
		body.initrds = append(body.initrds[:0], args[1:]...)
		return true
	case "chainloader", "multiboot", "multiboot2", "appleloader", "fwsetup", "halt", "reboot":
		body.other = args[0]
		return true
	}
	return false
}

// call runs a function defined in the config with $1... set to args[1:].
// Variables it sets are global, as in GRUB.
func (in *interp) call(f cmd, args []string, file entry.Source, menu *[]*item, body *bodyState, depth int) bool {
	if in.calls >= maxCalls {
		in.stop = fmt.Errorf("functions call each other deeper than %d: %w", maxCalls, errLimit)
		return false
	}
	in.calls++
	defer func() { in.calls-- }()
	ok := false
	in.positional(args[1:], func() { ok = in.run(f.body, file, menu, body, depth) })
	return ok
}

// positional runs fn with $1...$9, $#, $@ and $* set to args, and puts
// them back afterwards.
func (in *interp) positional(args []string, fn func()) {
	pos := map[string]string{"#": strconv.Itoa(len(args)), "@": strings.Join(args, " "), "*": strings.Join(args, " ")}
	for i := 1; i <= 9; i++ {
		pos[strconv.Itoa(i)] = ""
		if i <= len(args) {
			pos[strconv.Itoa(i)] = args[i-1]
		}
	}
	saved := map[string]*string{}
	for k, v := range pos {
		if old, ok := in.env[k]; ok {
			saved[k] = &old
		} else {
			saved[k] = nil
		}
		in.env[k] = v
	}
	defer func() {
		for k, old := range saved {
			if old == nil {
				delete(in.env, k)
			} else {
				in.env[k] = *old
			}
		}
	}()
	fn()
}

// menuItem evaluates a menuentry or submenu block. Variables set inside
// the block do not leak out of it, as in GRUB.
func (in *interp) menuItem(c cmd, src entry.Source, menu *[]*item, depth int) {
	if in.items++; in.items > maxItems {
		in.stop = fmt.Errorf("more than %d menu entries: %w", maxItems, errLimit)
		return
	}
	it := &item{src: src, isSub: c.kind == "submenu"}
	args := in.args(c.words)
	// The title and the arguments after it are the body's $1, $2...
	// (grub-core/commands/menuentry.c; snapper's entries pass the
	// snapshot's path as $2).
	var pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--id" || a == "--class" || a == "--users" || a == "--hotkey":
			if i+1 < len(args) {
				if a == "--id" {
					it.id = args[i+1]
				}
				i++
			}
		case strings.HasPrefix(a, "--id="):
			it.id = strings.TrimPrefix(a, "--id=")
		case strings.HasPrefix(a, "--"):
		default:
			if it.title == "" {
				it.title = a
			}
			pos = append(pos, a)
		}
	}
	in.positional(pos, func() {
		if it.isSub {
			in.scoped(func() { in.run(c.body, entry.Source{Device: src.Device, File: src.File}, &it.sub, nil, depth) })
		} else {
			in.body(it, c.body, depth)
		}
	})
	*menu = append(*menu, it)
}

// scoped runs fn and then puts the variables back as they were: what a
// menuentry or submenu body sets does not leak out of it, as in GRUB.
func (in *interp) scoped(fn func()) {
	saved := maps.Clone(in.env)
	fn()
	in.env = saved
}

// body runs a menuentry's commands, in their own scope, and makes the
// item's entry of what they load.
func (in *interp) body(it *item, cmds []cmd, depth int) {
	in.scoped(func() {
		var b bodyState
		in.run(cmds, entry.Source{Device: it.src.Device, File: it.src.File}, nil, &b, depth)
		in.finish(it, &b)
	})
}

// finish turns what a menuentry's body loads into the item's entry.
func (in *interp) finish(it *item, b *bodyState) {
	switch {
	case strings.HasPrefix(b.other, "configfile "):
		it.why = fmt.Sprintf("opens another menu (%s) rather than booting a kernel; warmboot does not offer it", b.other)
		return
	case b.other != "":
		it.why = fmt.Sprintf("uses %q, not a Linux kernel", b.other)
		return
	case b.kernel == "":
		it.why = "has no \"linux\" command"
		return
	}
	vol, kernel := in.locate(b.kernel)
	e := &entry.Entry{
		Format:    entry.GRUB,
		Kernel:    "/" + kernel,
		Cmdline:   Cmdline(b.kernel, b.args),
		Source:    it.src,
		TriesLeft: -1,
		Root:      in.vols[vol].Dir,
	}
	if d := in.vols[vol].Device; d != it.src.Device {
		e.Device = d
	}
	for _, r := range b.initrds {
		v, p := in.locate(r)
		if v != vol {
			it.why = fmt.Sprintf("loads initrd %s from another filesystem than its kernel %s, which warmboot does not support", r, b.kernel)
			return
		}
		e.Initrds = append(e.Initrds, "/"+p)
	}
	it.entry = e
}

// Cmdline is the kernel command line GRUB's linux command passes for
// "linux KERNEL ARGS...": BOOT_IMAGE= and the kernel path as written, then
// each argument, in double quotes when it holds a blank, with \, ' and "
// escaped by a backslash.
func Cmdline(kernel string, args []string) string {
	var b strings.Builder
	b.WriteString("BOOT_IMAGE=")
	for i, a := range append([]string{kernel}, args...) {
		if i > 0 {
			b.WriteByte(' ')
		}
		blank := strings.ContainsAny(a, " ")
		if blank {
			b.WriteByte('"')
		}
		for j := 0; j < len(a); j++ {
			if c := a[j]; c == '\\' || c == '\'' || c == '"' {
				b.WriteByte('\\')
			}
			b.WriteByte(a[j])
		}
		if blank {
			b.WriteByte('"')
		}
	}
	return b.String()
}

func (in *interp) set(k, v string, src entry.Source) {
	if len(v) > maxValue {
		in.stop = fmt.Errorf("%s: variable %s is longer than %d bytes: %w", src, k, maxValue, errLimit)
		return
	}
	in.env[k] = v
	if k == "default" {
		in.defLine = src
	}
}

// assignment reports whether w is written "name=..." with the name and
// "=" unquoted, the form GRUB treats as an assignment.
func assignment(w word, name string) bool {
	return len(w.parts) > 0 && strings.HasPrefix(w.parts[0].lit, name+"=")
}

func isName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && s[i] != '_' {
			return false
		}
	}
	return true
}

// search sets a variable (root by default) to the device holding a
// filesystem UUID, label or file, looking at every volume. The name it
// sets is the --hint GRUB's generated configs give ("hd0,gpt2"), so
// BOOT_IMAGE reads as GRUB would pass it, else the Linux device name.
func (in *interp) search(args []string) bool {
	kind, variable, hint := "file", "", ""
	switch args[0] {
	case "search.fs_uuid":
		kind = "uuid"
	case "search.fs_label":
		kind = "label"
	}
	var names []string
	legacy := args[0] != "search"
	for i := 1; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-u" || a == "--fs-uuid":
			kind = "uuid"
		case a == "-l" || a == "--label":
			kind = "label"
		case a == "-f" || a == "--file":
			kind = "file"
		case a == "-s" || a == "--set":
			variable = "root"
		case strings.HasPrefix(a, "--set="):
			variable = strings.TrimPrefix(a, "--set=")
		case strings.HasPrefix(a, "--hint"):
			// --hint=DEV, --hint-bios=DEV, --hint-efi=DEV...: the BIOS
			// name is the one GRUB's own BOOT_IMAGE= shows on a PC.
			opt, v, ok := strings.Cut(a, "=")
			if !ok && i+1 < len(args) {
				i++
				v = args[i]
			}
			if hint == "" || opt == "--hint-bios" {
				hint = v
			}
		case strings.HasPrefix(a, "-"):
		default:
			names = append(names, a)
		}
	}
	if legacy && len(names) >= 2 {
		// search.fs_uuid UUID VAR
		variable, names = names[1], names[:1]
	}
	if len(names) == 0 {
		return false
	}
	want := names[0]
	for v, vol := range in.vols {
		var ok bool
		switch kind {
		case "uuid":
			ok = vol.UUID != "" && strings.EqualFold(vol.UUID, want)
		case "label":
			ok = vol.Label != "" && vol.Label == want
		default:
			ok = regular(vol.FS, fsPath(want))
		}
		if !ok {
			continue
		}
		if variable == "" {
			return true
		}
		name := hint
		if name == "" || in.taken(name, v) {
			name = vol.Device
			if name == "" {
				name = "vol" + strconv.Itoa(v)
			}
		}
		in.names[name] = v
		in.env[variable] = name
		return true
	}
	return false
}

// taken says whether a GRUB device name already names another volume.
func (in *interp) taken(name string, v int) bool {
	w, ok := in.names[name]
	return ok && w != v
}

// envArgs reads load_env's and save_env's arguments: the grubenv
// (-f/--file, default $prefix/grubenv) and the variables named.
func (in *interp) envArgs(args []string) (vol int, file string, names []string) {
	file = in.env["prefix"] + "/grubenv"
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "-f" || args[i] == "--file":
			if i+1 < len(args) {
				file = args[i+1]
				i++
			}
		case strings.HasPrefix(args[i], "--file="):
			file = strings.TrimPrefix(args[i], "--file=")
		case strings.HasPrefix(args[i], "-"):
		default:
			names = append(names, args[i])
		}
	}
	vol, file = in.locate(file)
	return vol, file, names
}

// saveEnv records what "save_env" would write. Only next_entry is kept:
// clearing it is what makes grub-reboot's entry boot once. (Other saved
// variables, Fedora's boot_success and savedefault's saved_entry, are not
// written by warmboot.)
func (in *interp) saveEnv(args []string) {
	vol, p, names := in.envArgs(args)
	for _, n := range names {
		if n != "next_entry" {
			continue
		}
		v, set := in.env[n]
		in.envWrite = append(in.envWrite, entry.EnvWrite{File: in.where(vol, p), Name: n, Value: v, Unset: !set})
	}
}

func (in *interp) loadEnv(args []string) bool {
	vol, p, only := in.envArgs(args)
	data, err := cfgfile.Read(in.vols[vol].FS, p)
	if err != nil {
		return false
	}
	env, err := grubenv.Map(data)
	if err != nil {
		in.warnings = append(in.warnings, entry.Warnf(in.where(vol, p), "%v; ignored", err))
		return false
	}
	for k, v := range env {
		if k == "next_entry" && v != "" && in.vols[vol].Unwritable != nil {
			// grub-reboot's one-shot entry is used up by the config's
			// save_env, which cannot be saved here: used, it would boot
			// at every boot through warmboot. GRUB, on a cold boot,
			// writes its block in place and uses it up.
			in.warnings = append(in.warnings, entry.Warnf(in.where(vol, p), "ignoring next_entry=%q (GRUB's one-shot entry): warmboot cannot clear it here (%v), and it would boot every time; GRUB uses it up on the next cold boot, or clear it with grub-editenv", v, in.vols[vol].Unwritable))
			continue
		}
		if len(only) == 0 || slices.Contains(only, k) {
			in.env[k] = v
		}
	}
	return true
}
