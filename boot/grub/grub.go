// Package grub reads GRUB 2 configuration files (grub.cfg) and the GRUB
// environment block (grubenv) into boot entries.
//
// GRUB configs are scripts, so this package has a small interpreter for the
// subset that generated configs use: variables and "set", "if"/"elif"/"else"
// with "[ ... ]" tests, "load_env", "source"/"configfile", and "menuentry"
// and "submenu" blocks. Everything else (insmod, search, gfx commands) is
// skipped. Entries are never executed, only read: a menuentry's "linux" and
// "initrd" commands become the entry's kernel, cmdline and initrds.
//
// We do not use u-root's pkg/boot/grub: it imports pkg/curl (and with it
// net/http, crypto/tls and a TFTP client, ~3.5 MB of the initramfs) to
// fetch files, which a local-disk loader that must fit in SPI flash cannot
// afford, and it does not report the file and line an entry came from.
package grub

import (
	"fmt"
	"io/fs"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/cfgfile"
)

// Paths are where grub.cfg is looked for, relative to a filesystem root.
var Paths = []string{
	"boot/grub/grub.cfg", "grub/grub.cfg", "boot/grub2/grub.cfg", "grub2/grub.cfg",
	"EFI/debian/grub.cfg", "EFI/ubuntu/grub.cfg", "EFI/fedora/grub.cfg", "EFI/BOOT/grub.cfg",
}

// maxDepth bounds source/configfile nesting.
const maxDepth = 8

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
	fsys     fs.FS
	env      map[string]string
	warnings []string
	defLine  entry.Source // where "default" was last set
}

// Parse reads the GRUB config at name (a path in fsys, which is rooted at
// the filesystem the config lives on). Paths in the config are resolved on
// the same filesystem; "(hd0,gpt2)"-style device prefixes are dropped.
func Parse(fsys fs.FS, name string) (*entry.Config, error) {
	in := &interp{fsys: fsys, env: map[string]string{
		"prefix": "/" + path.Dir(name),
		"root":   "",
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
	if err := in.source(name, &menu, nil, 0); err != nil {
		return nil, err
	}
	cfg := &entry.Config{Format: entry.GRUB, Source: entry.Source{File: "/" + name}}
	flat := map[*item]int{}
	var walk func(items []*item, titles []string)
	walk = func(items []*item, titles []string) {
		for _, it := range items {
			t := append(append([]string(nil), titles...), it.title)
			if it.isSub {
				walk(it.sub, t)
				continue
			}
			if it.entry == nil {
				in.warnings = append(in.warnings, fmt.Sprintf("%s: menuentry %q %s; skipped", it.src, it.title, it.why))
				continue
			}
			e := *it.entry
			e.Label = strings.Join(t, " > ")
			e.ID = it.id
			if e.ID == "" {
				e.ID = strings.Join(t, ">")
			}
			flat[it] = len(cfg.Entries)
			cfg.Entries = append(cfg.Entries, e)
		}
	}
	walk(menu, nil)
	if len(cfg.Entries) == 0 {
		cfg.Warnings = in.warnings
		return cfg, nil
	}
	if def := in.env["default"]; def != "" {
		it := resolve(menu, def)
		switch i, ok := flat[it]; {
		case it == nil:
			in.warnings = append(in.warnings, fmt.Sprintf("%s: default %q matches no menu entry; using %q", in.defLine, def, cfg.Entries[0].Label))
		case !ok:
			in.warnings = append(in.warnings, fmt.Sprintf("%s: default %q names an entry that cannot boot; using %q", in.defLine, def, cfg.Entries[0].Label))
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

// fsPath turns a GRUB path ("(hd0,gpt2)/boot/vmlinuz", "$prefix/grubenv"
// after expansion) into a path in the filesystem.
func fsPath(p string) string {
	if strings.HasPrefix(p, "(") {
		if i := strings.IndexByte(p, ')'); i >= 0 {
			p = p[i+1:]
		}
	}
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

func (in *interp) source(name string, menu *[]*item, body *bodyState, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("/%s: source/configfile nested deeper than %d", name, maxDepth)
	}
	data, err := cfgfile.Read(in.fsys, name)
	if err != nil {
		return err
	}
	for n, l := range strings.Split(string(data), "\n") {
		if !cfgfile.Text(l) {
			return fmt.Errorf("/%s:%d: not a text file (binary data); fix or remove the file", name, n+1)
		}
	}
	cmds, err := parse(string(data))
	if err != nil {
		return fmt.Errorf("/%s:%s; fix the config", name, strings.TrimPrefix(err.Error(), "line "))
	}
	in.run(cmds, "/"+name, menu, body, depth)
	return nil
}

// bodyState collects what a menuentry's body would load.
type bodyState struct {
	kernel  string
	args    []string
	initrds []string
	other   string // a non-Linux loader command (chainloader, multiboot)
}

func (in *interp) expand(w word) string {
	var b strings.Builder
	for _, p := range w.parts {
		if p.varRef != "" {
			b.WriteString(in.env[p.varRef])
		} else {
			b.WriteString(p.lit)
		}
	}
	return b.String()
}

func (in *interp) args(ws []word) []string {
	out := make([]string, 0, len(ws))
	for _, w := range ws {
		out = append(out, in.expand(w))
	}
	return out
}

// run executes cmds and reports the status of the last one.
func (in *interp) run(cmds []cmd, file string, menu *[]*item, body *bodyState, depth int) bool {
	status := true
	for _, c := range cmds {
		status = in.exec(c, file, menu, body, depth)
	}
	return status
}

func (in *interp) exec(c cmd, file string, menu *[]*item, body *bodyState, depth int) bool {
	src := entry.Source{File: file, Line: c.line}
	switch c.kind {
	case "if":
		for _, cl := range c.clauses {
			if cl.isElse || in.run(cl.cond, file, menu, body, depth) {
				return in.run(cl.body, file, menu, body, depth)
			}
		}
		return true
	case "function", "loop":
		return true
	case "menuentry", "submenu":
		in.menuItem(c, src, menu, depth)
		return true
	}
	if len(c.words) == 0 {
		return true
	}
	args := in.args(c.words)
	if k, v, ok := strings.Cut(args[0], "="); ok && len(args) == 1 && isName(k) && assignment(c.words[0], k) {
		// A bare "name=value" command assigns, as "set" does.
		in.set(k, v, src)
		return true
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
	case "export", "save_env", "insmod", "echo", "true":
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
	case "source", ".", "configfile":
		if len(args) < 2 {
			return false
		}
		if err := in.source(fsPath(args[1]), menu, body, depth+1); err != nil {
			in.warnings = append(in.warnings, fmt.Sprintf("%s: %s %s: %v", src, args[0], args[1], err))
			return false
		}
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

// menuItem evaluates a menuentry or submenu block. Variables set inside
// the block do not leak out of it, as in GRUB.
func (in *interp) menuItem(c cmd, src entry.Source, menu *[]*item, depth int) {
	it := &item{src: src, isSub: c.kind == "submenu"}
	args := in.args(c.words)
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
		}
	}
	saved := make(map[string]string, len(in.env))
	for k, v := range in.env {
		saved[k] = v
	}
	defer func() { in.env = saved }()
	if it.isSub {
		in.run(c.body, src.File, &it.sub, nil, depth)
		*menu = append(*menu, it)
		return
	}
	var b bodyState
	in.run(c.body, src.File, nil, &b, depth)
	switch {
	case b.other != "":
		it.why = fmt.Sprintf("uses %q, not a Linux kernel", b.other)
	case b.kernel == "":
		it.why = "has no \"linux\" command"
	default:
		e := &entry.Entry{
			Format:    entry.GRUB,
			Kernel:    "/" + fsPath(b.kernel),
			Cmdline:   strings.Join(b.args, " "),
			Source:    src,
			TriesLeft: -1,
		}
		for _, r := range b.initrds {
			e.Initrds = append(e.Initrds, "/"+fsPath(r))
		}
		it.entry = e
	}
	*menu = append(*menu, it)
}

func (in *interp) set(k, v string, src entry.Source) {
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

func (in *interp) test(a []string) bool {
	if len(a) > 0 && a[0] == "!" {
		return !in.test(a[1:])
	}
	switch len(a) {
	case 0:
		return false
	case 1:
		return a[0] != ""
	case 2:
		switch a[0] {
		case "-n":
			return a[1] != ""
		case "-z":
			return a[1] == ""
		case "-e", "-f", "-d", "-s":
			st, err := fs.Stat(in.fsys, fsPath(a[1]))
			if err != nil {
				return false
			}
			switch a[0] {
			case "-f":
				return st.Mode().IsRegular()
			case "-d":
				return st.IsDir()
			case "-s":
				return st.Size() > 0
			}
			return true
		}
	case 3:
		switch a[1] {
		case "=", "==":
			return a[0] == a[2]
		case "!=":
			return a[0] != a[2]
		}
	}
	return false
}

func (in *interp) loadEnv(args []string) bool {
	file := in.env["prefix"] + "/grubenv"
	var only []string
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
			only = append(only, args[i])
		}
	}
	data, err := cfgfile.Read(in.fsys, fsPath(file))
	if err != nil {
		return false
	}
	env, err := ParseEnv(data)
	if err != nil {
		in.warnings = append(in.warnings, fmt.Sprintf("/%s: %v; ignored", fsPath(file), err))
		return false
	}
	for k, v := range env {
		if len(only) == 0 || contains(only, k) {
			in.env[k] = v
		}
	}
	return true
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

const envHeader = "# GRUB Environment Block\n"

// ParseEnv parses a GRUB environment block (grubenv): a header line, then
// name=value lines, padded with '#' to 1024 bytes. Values escape "\\" and
// "\n" with a backslash.
func ParseEnv(data []byte) (map[string]string, error) {
	s := string(data)
	if !strings.HasPrefix(s, envHeader) {
		return nil, fmt.Errorf("not a GRUB environment block (missing %q header)", strings.TrimSpace(envHeader))
	}
	env := map[string]string{}
	for _, l := range strings.Split(s[len(envHeader):], "\n") {
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("malformed line %q", l)
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			if v[i] == '\\' && i+1 < len(v) {
				i++
				if v[i] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(v[i])
		}
		env[k] = b.String()
	}
	return env, nil
}
