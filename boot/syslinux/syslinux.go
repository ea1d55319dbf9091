// Package syslinux reads SYSLINUX, EXTLINUX and ISOLINUX configuration files
// into boot entries: LABEL blocks with KERNEL/LINUX, APPEND and INITRD,
// DEFAULT/ONTIMEOUT/MENU DEFAULT, TIMEOUT, INCLUDE, and the menu modules'
// submenus (MENU BEGIN ... MENU END, "INCLUDE file Title").
//
// Menus are read as syslinux 6's menu module reads them
// (com32/menu/readconfig.c, parse_config_file and parse_configs):
//   - the files are one stream: a LABEL begun before an INCLUDE goes on in
//     the included file, as if the files were concatenated;
//   - MENU DEFAULT marks the default of the menu the LABEL is in; inside
//     MENU BEGIN ... MENU END, that is the submenu's default, not the top
//     menu's (Debian's installer marks its dark-theme submenu's entry so);
//     MENU DEFAULT with no LABEL open inside a submenu makes the submenu
//     its parent's default;
//   - with a UI directive, a DEFAULT naming a visible LABEL overrides MENU
//     DEFAULT and opens the menu holding it; "DEFAULT vesamenu.c32" (no UI)
//     leaves MENU DEFAULT in charge; ONTIMEOUT is what the timeout boots;
//   - MENU HIDE entries are not shown (they still boot when DEFAULT or
//     ONTIMEOUT names them); MENU EXIT, GOTO, QUIT, SEPARATOR and DISABLE
//     entries move around the menu or decorate it and boot nothing.
//
// A submenu entry's label is its place in the menu, as GRUB's are shown:
// "Advanced options > Graphical expert install". Its id stays the LABEL,
// which is how syslinux (DEFAULT, ONTIMEOUT, the boot prompt) names it.
//
// We do not use u-root's pkg/boot/syslinux: it imports pkg/curl (net/http,
// crypto/tls, TFTP; ~3.5 MB of the initramfs) to fetch files over the
// network, flattens submenus, and does not report the file and line an
// entry came from.
package syslinux

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

// Paths are where a config is looked for, relative to a filesystem root.
var Paths = []string{
	"boot/extlinux/extlinux.conf", "extlinux/extlinux.conf", "extlinux.conf",
	"boot/syslinux/syslinux.cfg", "syslinux/syslinux.cfg", "syslinux.cfg",
	"EFI/BOOT/syslinux.cfg", "boot/isolinux/isolinux.cfg", "isolinux/isolinux.cfg",
}

const (
	maxDepth = 8    // INCLUDE nesting
	maxFiles = 64   // files read, INCLUDEs of the same file counted each time
	maxMenus = 256  // MENU BEGIN blocks
	maxItems = 4096 // LABELs
)

type label struct {
	name, menuLabel string
	kernel          string
	appendSet       bool
	appendArgs      string
	initrds         []string
	src             entry.Source
	other           string // a non-Linux entry kind (COM32, LOCALBOOT, CONFIG)
	nav             string // a menu action that boots nothing (MENU EXIT)
	menu            *menu  // the menu it is shown in
	hidden          bool   // MENU HIDE
}

// menu is the top menu or a submenu; items are its LABELs and submenus in
// order, as the menu shows them.
type menu struct {
	name   string // shown in its parent: MENU LABEL, else MENU TITLE, else the tag
	named  bool   // name came from MENU LABEL
	parent *menu
	items  []menuItem
	// defs are the items MENU DEFAULT marked, in order: the last one that
	// can be the default is.
	defs []menuItem
}

type menuItem struct {
	label *label
	sub   *menu
}

type parser struct {
	fsys       fs.FS
	dir        string // directory relative paths are resolved against
	labels     []*label
	top, cur   *menu
	label      *label // the LABEL being read, across INCLUDEs
	menus      int
	files      int
	globalArgs string
	def        string
	defSrc     entry.Source
	onTimeout  string
	onSrc      entry.Source
	ui         bool // a UI directive names the menu module
	timeout    *time.Duration
	warnings   []entry.Warning
	stop       error
}

// Parse reads the syslinux config at name in fsys (rooted at the
// filesystem the config lives on). Relative paths are resolved against the
// config's directory, as syslinux does.
func Parse(fsys fs.FS, name string) (*entry.Config, error) {
	top := &menu{}
	p := &parser{fsys: fsys, dir: path.Dir(name), top: top, cur: top}
	if err := p.file(name, 0); err != nil {
		return nil, err
	}
	if p.stop != nil {
		p.warnings = append(p.warnings, entry.Warnf(entry.Source{File: "/" + name}, "%v; the entries read before it are kept", p.stop))
	}
	cfg := &entry.Config{Format: entry.Syslinux, Source: entry.Source{File: "/" + name}, Timeout: p.timeout}
	def, defWhy := p.pickDefault()
	index := map[*label]int{}
	var walk func(m *menu, titles []string)
	walk = func(m *menu, titles []string) {
		for _, it := range m.items {
			if it.sub != nil {
				t := titles
				if it.sub.name != "" {
					t = append(append([]string(nil), titles...), cfgfile.Label(it.sub.name))
				}
				walk(it.sub, t)
				continue
			}
			l := it.label
			if l.nav != "" || (l.hidden && l != def) {
				continue
			}
			e, why := p.entry(l)
			if e == nil {
				p.warnings = append(p.warnings, entry.Warnf(l.src, "LABEL %s %s; skipped", l.name, why))
				continue
			}
			if len(titles) > 0 {
				e.Label = cfgfile.Label(strings.Join(append(append([]string(nil), titles...), e.Label), " > "))
			}
			index[l] = len(cfg.Entries)
			cfg.Entries = append(cfg.Entries, *e)
		}
	}
	walk(top, nil)
	if def != nil {
		if i, ok := index[def]; ok {
			cfg.Default = i
		} else if len(cfg.Entries) > 0 {
			p.warnings = append(p.warnings, entry.Warnf(p.defSrc, "default %q cannot boot; using %q", def.name, cfg.Entries[0].ID))
		}
	} else if defWhy != "" && len(cfg.Entries) > 0 {
		p.warnings = append(p.warnings, entry.Warnf(p.defSrc, "%s; using %q", defWhy, cfg.Entries[0].ID))
	}
	cfg.Warnings = p.warnings
	return cfg, nil
}

// pickDefault is the LABEL a boot left alone ends in, as syslinux decides
// it (see the package doc), or nil and why not.
func (p *parser) pickDefault() (*label, string) {
	defName, _, _ := strings.Cut(p.def, " ")
	onName, _, _ := strings.Cut(p.onTimeout, " ")
	byName := func(n string, visible bool) *label {
		for _, l := range p.labels {
			if l.name == n && (!visible || !l.hidden) {
				return l
			}
		}
		return nil
	}
	if onName != "" {
		// The timeout boots ONTIMEOUT, menu or no menu.
		if l := byName(onName, false); l != nil {
			return l, ""
		}
		p.defSrc = p.onSrc
		return nil, fmt.Sprintf("ontimeout %q matches no LABEL", onName)
	}
	if !p.ui && !isModule(defName) {
		// The core boots DEFAULT. With none, the top menu's MENU DEFAULT
		// is what a menu would have picked.
		if defName == "" {
			return menuDefault(p.top), ""
		}
		if l := byName(defName, false); l != nil {
			return l, ""
		}
		return nil, fmt.Sprintf("default %q matches no LABEL", defName)
	}
	start := p.top
	if p.ui && defName != "" && !isModule(defName) {
		if l := byName(defName, true); l != nil {
			return l, ""
		}
	}
	return menuDefault(start), ""
}

// menuDefault is what Enter on menu m's default boots: its last MENU
// DEFAULT that can be one (a submenu opens on its own default), else its
// first entry that boots.
func menuDefault(m *menu) *label {
	for i := len(m.defs) - 1; i >= 0; i-- {
		it := m.defs[i]
		if it.sub != nil {
			if l := menuDefault(it.sub); l != nil {
				return l
			}
			continue
		}
		if !it.label.hidden && it.label.nav == "" {
			return it.label
		}
	}
	for _, it := range m.items {
		if it.sub != nil {
			if l := menuDefault(it.sub); l != nil {
				return l
			}
			continue
		}
		if !it.label.hidden && it.label.nav == "" && it.label.other == "" {
			return it.label
		}
	}
	return nil
}

func (p *parser) resolve(file string) string {
	if strings.HasPrefix(file, "/") {
		return path.Clean(file)
	}
	return path.Join("/", p.dir, file)
}

func (p *parser) entry(l *label) (*entry.Entry, string) {
	if l.other != "" {
		return nil, "is a " + l.other + " entry, not a Linux kernel"
	}
	if l.kernel == "" {
		return nil, "has no KERNEL or LINUX line"
	}
	if isModule(l.kernel) {
		return nil, fmt.Sprintf("loads %s, which is not a Linux kernel", l.kernel)
	}
	args := p.globalArgs
	if l.appendSet {
		args = l.appendArgs
	}
	var initrds []string
	for _, a := range strings.Fields(args) {
		if v, ok := strings.CutPrefix(a, "initrd="); ok {
			initrds = append(initrds, strings.Split(v, ",")...)
		}
	}
	// The kernel sees what syslinux passes: "BOOT_IMAGE=<kernel as
	// written> <APPEND>", initrd= included, and an INITRD line as one more
	// initrd= after it.
	cmdline := append([]string{"BOOT_IMAGE=" + l.kernel}, strings.Fields(args)...)
	if len(l.initrds) > 0 {
		initrds = append(initrds, l.initrds...)
		cmdline = append(cmdline, "initrd="+strings.Join(l.initrds, ","))
	}
	e := &entry.Entry{
		ID:        l.name,
		Label:     cfgfile.Label(l.menuLabel),
		Format:    entry.Syslinux,
		Kernel:    p.resolve(l.kernel),
		Cmdline:   strings.Join(cmdline, " "),
		Source:    l.src,
		TriesLeft: -1,
	}
	if e.Label == "" {
		e.Label = cfgfile.Label(l.name)
	}
	for _, i := range initrds {
		if i != "" {
			e.Initrds = append(e.Initrds, p.resolve(i))
		}
	}
	return e, ""
}

func (p *parser) file(name string, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("/%s: INCLUDE nested deeper than %d", name, maxDepth)
	}
	if p.files++; p.files > maxFiles {
		p.stop = fmt.Errorf("/%s: more than %d files included", name, maxFiles)
		return nil
	}
	data, err := cfgfile.Read(p.fsys, name)
	if err != nil {
		return err
	}
	lines, err := cfgfile.Lines(data)
	if err != nil {
		return fmt.Errorf("/%s:%s; fix or remove the file", name, strings.TrimPrefix(err.Error(), "line "))
	}
	inText := false
	for n, raw := range lines {
		if p.stop != nil {
			return nil
		}
		src := entry.Source{File: "/" + name, Line: n + 1}
		line := strings.TrimSpace(raw)
		if inText {
			if strings.EqualFold(line, "endtext") {
				inText = false
			}
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		key, rest := splitKey(line)
		if key == "menu" {
			p.menuLine(rest, src, depth)
			continue
		}
		cur := p.label
		switch key {
		case "label":
			if len(p.labels) >= maxItems {
				p.stop = fmt.Errorf("%s: more than %d LABELs", src, maxItems)
				return nil
			}
			cur = &label{name: rest, src: src, menu: p.cur}
			p.label = cur
			p.labels = append(p.labels, cur)
			p.cur.items = append(p.cur.items, menuItem{label: cur})
		case "kernel", "linux":
			if cur != nil {
				cur.kernel = firstField(rest)
			}
		case "com32", "localboot", "config", "pxe", "fdimage", "comboot", "boot", "bss":
			if cur != nil {
				cur.other = strings.ToUpper(key)
			}
		case "append":
			if rest == "-" {
				rest = ""
			}
			if cur == nil {
				p.globalArgs = rest
			} else {
				cur.appendSet, cur.appendArgs = true, rest
			}
		case "initrd":
			if cur != nil {
				cur.initrds = append(cur.initrds, strings.Split(firstField(rest), ",")...)
			}
		case "default":
			p.def, p.defSrc = rest, src
		case "ontimeout":
			p.onTimeout, p.onSrc = rest, src
		case "ui":
			p.ui = true
		case "timeout":
			if t, err := strconv.Atoi(rest); err == nil && t >= 0 {
				d := time.Duration(t) * time.Second / 10
				if t == 0 {
					// TIMEOUT 0 disables the timeout: syslinux waits
					// for the user (a negative menu timeout).
					d = -1
				}
				p.timeout = &d
			} else {
				p.warnings = append(p.warnings, entry.Warnf(src, "TIMEOUT %q is not a number of tenths of a second; ignored", rest))
			}
		case "include":
			p.include(rest, src, depth)
		case "text":
			inText = true
		}
	}
	return nil
}

// menuLine reads a "MENU ..." line (rest is what follows MENU).
func (p *parser) menuLine(rest string, src entry.Source, depth int) {
	key, rest := splitKey(rest)
	cur, m := p.label, p.cur
	switch key {
	case "label":
		switch {
		case cur != nil:
			cur.menuLabel = strings.ReplaceAll(rest, "^", "")
		case m.parent != nil:
			m.name, m.named = strings.ReplaceAll(rest, "^", ""), true
		}
	case "title":
		if m.parent != nil && !m.named {
			m.name = rest
		}
	case "default":
		switch {
		case cur != nil:
			m.defs = append(m.defs, menuItem{label: cur})
		case m.parent != nil:
			m.parent.defs = append(m.parent.defs, menuItem{sub: m})
		}
		p.defSrc = src
	case "hide":
		if cur != nil {
			cur.hidden = true
		}
	case "exit", "goto", "quit", "disable", "disabled":
		if cur != nil {
			cur.nav = "MENU " + strings.ToUpper(key)
		}
	case "separator":
		p.label = nil
	case "begin":
		p.begin(rest, src)
	case "end":
		p.label = nil
		if m.parent != nil {
			p.cur = m.parent
		}
	case "include":
		p.include(rest, src, depth)
	}
}

// begin opens a submenu in the current menu, shown as tag until MENU
// LABEL or MENU TITLE names it.
func (p *parser) begin(tag string, src entry.Source) {
	if p.menus++; p.menus > maxMenus {
		p.stop = fmt.Errorf("%s: more than %d submenus", src, maxMenus)
		return
	}
	sub := &menu{name: strings.ReplaceAll(tag, "^", ""), parent: p.cur}
	p.cur.items = append(p.cur.items, menuItem{sub: sub})
	p.cur, p.label = sub, nil
}

// include reads another file as part of this one; "INCLUDE file Title"
// makes it a submenu of its own.
func (p *parser) include(arg string, src entry.Source, depth int) {
	file := firstField(arg)
	title := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(arg), file))
	outer := p.cur
	if title != "" {
		if p.begin(title, src); p.stop != nil {
			return
		}
	}
	name := strings.TrimPrefix(p.resolve(file), "/")
	if err := p.file(name, depth+1); err != nil {
		p.warnings = append(p.warnings, entry.Warnf(src, "INCLUDE %s: %v", file, err))
	}
	if title != "" {
		p.cur, p.label = outer, nil
	}
}

func splitKey(line string) (string, string) {
	i := strings.IndexAny(line, " \t")
	if i < 0 {
		return strings.ToLower(line), ""
	}
	return strings.ToLower(line[:i]), strings.TrimSpace(line[i+1:])
}

func firstField(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

// isModule says whether a KERNEL or DEFAULT names a COM32 module or boot
// sector rather than a Linux kernel (syslinux picks by extension).
func isModule(file string) bool {
	switch strings.ToLower(path.Ext(file)) {
	case ".c32", ".com", ".cbt", ".bin", ".0", ".bs", ".bss":
		return true
	}
	return false
}
