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
//     leaves MENU DEFAULT in charge; TIMEOUT and ONTIMEOUT are each menu's
//     own, ONTIMEOUT counting only when the menu times out; without a menu
//     module the core boots DEFAULT, and ONTIMEOUT only at its boot:
//     prompt (ldlinux.c);
//   - MENU HIDE entries are not shown (they still boot when DEFAULT or
//     ONTIMEOUT names them); MENU EXIT, GOTO, QUIT, SEPARATOR and DISABLE
//     entries move around the menu or decorate it and boot nothing;
//   - when what syslinux would boot by itself is not a Linux kernel
//     (LOCALBOOT, chain.c32, Xen's mboot.c32, a submenu its timeout does
//     not boot), the config asks warmboot to wait for a choice (a
//     negative Timeout) rather than boot another entry, such as an
//     installer, unasked.
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
	// kernel is what the LABEL boots: its name until KERNEL, LINUX or a
	// COM32-like line says (syslinux's "ld.kernel = label").
	kernel     string
	linux      bool // LINUX: a Linux kernel whatever its name
	appendSet  bool
	appendArgs string
	initrd     string // the last INITRD line
	src        entry.Source
	other      string // a non-Linux entry kind (COM32, LOCALBOOT, CONFIG)
	nav        string // a menu action that boots nothing (MENU EXIT)
	menu       *menu  // the menu it is shown in
	idx        int    // its item in menu
	hidden     bool   // MENU HIDE
	menuDef    bool   // MENU DEFAULT
}

// menu is the top menu or a submenu; items are its LABELs and submenus in
// order, as the menu shows them.
type menu struct {
	name   string // shown in its parent: MENU LABEL, else MENU TITLE, else the tag
	named  bool   // name came from MENU LABEL
	titled bool   // name came from MENU TITLE
	parent *menu
	idx    int // its item in parent
	items  []menuItem
	// def is 1 + the index of the item the last MENU DEFAULT that
	// counts marked, 0 when none did.
	def int
	// timeout and onTimeout are the menu's own, copied from its parent
	// when it begins (readconfig.c new_menu).
	timeout   *time.Duration
	onTimeout string
	onSrc     entry.Source
}

type menuItem struct {
	label *label
	sub   *menu
}

type parser struct {
	fsys       fs.FS
	dir        string // directory relative paths are resolved against
	urls       bool   // URLs are kept as they are (ParseIn)
	labels     []*label
	top, cur   *menu
	label      *label // the LABEL being read, across INCLUDEs
	menus      int
	files      int
	globalArgs string
	def        string
	defSrc     entry.Source
	ui         bool // a UI directive names the menu module
	prompt     bool // PROMPT 1: the core waits at boot: for TIMEOUT
	total      *time.Duration
	warnings   []entry.Warning
	stop       error
}

// Bounds on what a hostile config costs (syslinux reads lines of at most
// 4095 bytes).
const (
	maxArgs    = 4095
	maxInitrds = 64
)

// Parse reads the syslinux config at name in fsys (rooted at the
// filesystem the config lives on). Relative paths are resolved against the
// config's directory, as syslinux does.
func Parse(fsys fs.FS, name string) (*entry.Config, error) {
	return ParseIn(fsys, name, path.Dir(name))
}

// ParseIn is Parse with relative paths resolved against dir (relative to
// fsys's root) instead: pxelinux resolves them against its path prefix,
// the directory pxelinux.0 came from, not pxelinux.cfg/. A KERNEL or
// INITRD given as a URL (lpxelinux's http://, ftp://) is kept as it is.
func ParseIn(fsys fs.FS, name, dir string) (*entry.Config, error) {
	top := &menu{}
	p := &parser{fsys: fsys, dir: dir, top: top, cur: top, urls: true}
	if err := p.file(name, 0); err != nil {
		return nil, err
	}
	p.endLabel()
	if p.stop != nil {
		p.warnings = append(p.warnings, entry.Warnf(entry.Source{File: "/" + name}, "%v; the entries read before it are kept", p.stop))
	}
	cfg := &entry.Config{Format: entry.Syslinux, Source: entry.Source{File: "/" + name}}
	ch := p.pickDefault()
	cfg.Timeout = ch.timeout
	def := ch.label
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
	i, ok := index[def]
	switch {
	case len(cfg.Entries) == 0:
	case ok && ch.why == "":
		cfg.Default = i
		if ch.args != "" {
			cfg.Entries[i].Cmdline += " " + ch.args
		}
	default:
		// What syslinux would boot by itself is not a Linux kernel
		// (the local disk, a chainloader, Xen) or nothing: offer the
		// menu, and boot nothing else unasked.
		why := ch.why
		if why == "" {
			why = fmt.Sprintf("default %q cannot boot", def.name)
		}
		if ok {
			cfg.Default = i
		}
		wait := time.Duration(-1)
		cfg.Timeout = &wait
		src := ch.src
		if def != nil {
			src = def.src
		}
		p.warnings = append(p.warnings, entry.Warnf(src, "%s: waiting for a choice, not booting %q unasked", why, cfg.Entries[cfg.Default].ID))
	}
	cfg.Warnings = p.warnings
	return cfg, nil
}

// choice is what a boot left alone does, as syslinux decides it (see the
// package doc): label is the entry to offer as the default; why, when
// not empty, says why it must not be booted unasked.
type choice struct {
	label   *label
	args    string // DEFAULT's words after the label (the core appends them)
	timeout *time.Duration
	why     string
	src     entry.Source
}

func (p *parser) byName(n string) *label {
	for _, l := range p.labels {
		if l.name == n {
			return l
		}
	}
	return nil
}

// pickDefault decides the default as syslinux 6 does: the core
// (ldlinux.c) without a menu module, the menu module
// (com32/menu/readconfig.c parse_configs, menumain.c run_menu) with one.
func (p *parser) pickDefault() choice {
	defName, defArgs, _ := strings.Cut(p.def, " ")
	defArgs = strings.TrimSpace(defArgs)
	top := p.top
	ch := choice{timeout: top.timeout, src: p.defSrc}
	if !p.ui && (defName == "" || !isMenuModule(defName) || p.byName(defName) != nil) {
		// The core boots DEFAULT at once, or at its boot: prompt
		// (PROMPT 1, or no DEFAULT) boots ONTIMEOUT after TIMEOUT.
		// With neither, the top menu's MENU DEFAULT is what a menu
		// would pick.
		name := defName
		if (p.prompt || defName == "") && top.onTimeout != "" && positive(top.timeout) {
			name, defArgs, ch.src = firstField(top.onTimeout), "", top.onSrc
		}
		if name == "" {
			return p.menuChoice(top, ch)
		}
		if ch.label = p.byName(name); ch.label == nil {
			if isModule(name) {
				ch.why = fmt.Sprintf("default %s is a syslinux module, not a Linux kernel", name)
				return ch
			}
			// A command line naming no LABEL boots that kernel
			// (ldlinux.c load_kernel, allowimplicit).
			ch.label = p.implicit(name, ch.src)
		}
		ch.args = defArgs
		ch.why = p.unbootable(ch.label)
		return ch
	}
	start := top
	var chosen *label
	if p.ui && defName != "" {
		// find_label: the first LABEL of that name, ignored if hidden.
		if l := p.byName(defName); l != nil && !l.hidden {
			start, chosen = l.menu, l
		}
	}
	ch.timeout = start.timeout
	if p.total != nil && *p.total > 0 && (!positive(ch.timeout) || *p.total < *ch.timeout) {
		ch.timeout = p.total
	}
	if start.onTimeout != "" && positive(ch.timeout) {
		ch.src = start.onSrc
		if ch.label = p.byName(firstField(start.onTimeout)); ch.label == nil {
			ch.why = fmt.Sprintf("ontimeout %q matches no LABEL", start.onTimeout)
		} else {
			ch.why = p.unbootable(ch.label)
		}
		return ch
	}
	if chosen != nil {
		ch.label, ch.why = chosen, p.unbootable(chosen)
		return ch
	}
	return p.menuChoice(start, ch)
}

// implicit is the entry for a DEFAULT that names a kernel, not a LABEL,
// shown after the menu's own.
func (p *parser) implicit(kernel string, src entry.Source) *label {
	l := &label{name: kernel, kernel: kernel, src: src, menu: p.top, idx: len(p.top.items)}
	p.labels = append(p.labels, l)
	p.top.items = append(p.top.items, menuItem{label: l})
	return l
}

// isMenuModule says whether a DEFAULT names syslinux's menu, which then
// picks the default itself.
func isMenuModule(name string) bool {
	b := strings.ToLower(path.Base(name))
	return b == "menu.c32" || b == "vesamenu.c32"
}

func positive(d *time.Duration) bool { return d != nil && *d > 0 }

// menuChoice is what Enter (and the timeout) on menu m's default does.
func (p *parser) menuChoice(m *menu, ch choice) choice {
	var it *menuItem
	if m.def > 0 {
		it = &m.items[m.def-1]
	} else if len(m.items) > 0 {
		it = &m.items[0]
	}
	switch {
	case it == nil:
		ch.why = "the menu has no entries"
	case it.sub != nil:
		// Timing out on a submenu boots nothing; Enter opens it on
		// its own default.
		ch.label = firstBootable(it.sub)
		ch.why = fmt.Sprintf("the default opens the submenu %q, which syslinux's timeout does not boot", it.sub.name)
	default:
		ch.label, ch.why = it.label, p.unbootable(it.label)
	}
	if ch.label == nil || ch.label.hidden {
		ch.label = firstBootable(p.top)
	}
	return ch
}

// firstBootable is the submenu's own default if it can boot, else its
// first Linux entry, looking into nested submenus.
func firstBootable(m *menu) *label {
	if m.def > 0 && m.items[m.def-1].label != nil && m.items[m.def-1].label.linuxKernel() {
		return m.items[m.def-1].label
	}
	for _, it := range m.items {
		if it.sub != nil {
			if l := firstBootable(it.sub); l != nil {
				return l
			}
		} else if it.label.linuxKernel() && !it.label.hidden {
			return it.label
		}
	}
	return nil
}

func (l *label) linuxKernel() bool {
	return l.nav == "" && l.other == "" && l.kernel != "" && (l.linux || !isModule(l.kernel))
}

// unbootable says why syslinux's default l is not something warmboot can
// boot in its place, or "".
func (p *parser) unbootable(l *label) string {
	switch {
	case l.nav != "":
		return fmt.Sprintf("the default LABEL %s is a %s entry", l.name, l.nav)
	case l.other != "":
		return fmt.Sprintf("the default LABEL %s is a %s entry, not a Linux kernel", l.name, l.other)
	case !l.linuxKernel():
		return fmt.Sprintf("the default LABEL %s loads %s, not a Linux kernel", l.name, l.kernel)
	}
	return ""
}

func (p *parser) resolve(file string) string {
	if p.urls && strings.Contains(file, "://") {
		return file
	}
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
	if !l.linuxKernel() {
		return nil, fmt.Sprintf("loads %s, which is not a Linux kernel", l.kernel)
	}
	args := p.globalArgs
	if l.appendSet {
		args = l.appendArgs
	}
	// The kernel sees what syslinux passes: "BOOT_IMAGE=<kernel as
	// written> <APPEND>", initrd= included, and an INITRD line as one
	// more initrd= after it; the initrds loaded are the first initrd=
	// option's (ldlinux kernel.c).
	var b strings.Builder
	b.WriteString("BOOT_IMAGE=" + l.kernel)
	for w := range strings.FieldsSeq(args) {
		b.WriteString(" " + w)
	}
	if l.initrd != "" {
		b.WriteString(" initrd=" + l.initrd)
	}
	cmdline := b.String()
	var initrds []string
	for w := range strings.FieldsSeq(cmdline) {
		if v, ok := strings.CutPrefix(w, "initrd="); ok {
			if strings.Count(v, ",") >= maxInitrds {
				return nil, fmt.Sprintf("names more than %d initrds", maxInitrds)
			}
			initrds = strings.Split(v, ",")
			break
		}
	}
	e := &entry.Entry{
		ID:        l.name,
		Label:     cfgfile.Label(l.menuLabel),
		Format:    entry.Syslinux,
		Kernel:    p.resolve(l.kernel),
		Cmdline:   cmdline,
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
			p.endLabel()
			cur = &label{name: rest, kernel: firstField(rest), src: src, menu: p.cur, idx: len(p.cur.items)}
			p.label = cur
			p.labels = append(p.labels, cur)
			p.cur.items = append(p.cur.items, menuItem{label: cur})
		case "kernel", "linux":
			if cur != nil {
				cur.kernel, cur.linux, cur.other = firstField(rest), key == "linux", ""
			}
		case "com32", "localboot", "config", "pxe", "fdimage", "comboot", "boot", "bss":
			if cur != nil {
				cur.kernel, cur.linux, cur.other = firstField(rest), false, strings.ToUpper(key)
			}
		case "append":
			if rest == "-" {
				rest = ""
			}
			if len(rest) > maxArgs {
				p.warnings = append(p.warnings, entry.Warnf(src, "APPEND longer than the %d bytes syslinux reads; ignored", maxArgs))
				continue
			}
			if cur == nil {
				p.globalArgs = rest
			} else {
				cur.appendSet, cur.appendArgs = true, rest
			}
		case "initrd":
			if cur != nil && len(rest) <= maxArgs {
				cur.initrd = firstField(rest)
			}
		case "default":
			p.def, p.defSrc = rest, src
		case "ontimeout":
			p.cur.onTimeout, p.cur.onSrc = rest, src
		case "ui":
			p.ui = true
		case "prompt":
			p.prompt = rest != "" && rest != "0"
		case "timeout", "totaltimeout":
			if t, err := strconv.Atoi(rest); err == nil && t >= 0 {
				d := time.Duration(t) * time.Second / 10
				if key == "totaltimeout" {
					p.total = &d
					continue
				}
				if t == 0 {
					// TIMEOUT 0 disables the timeout: syslinux waits
					// for the user (a negative menu timeout).
					d = -1
				}
				p.cur.timeout = &d
			} else {
				p.warnings = append(p.warnings, entry.Warnf(src, "%s %q is not a number of tenths of a second; ignored", strings.ToUpper(key), rest))
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
		if m.parent != nil && !m.named && !m.titled {
			m.name, m.titled = rest, true
		}
	case "default":
		switch {
		case cur != nil:
			// Taken when the LABEL ends, if it is then a shown entry
			// (readconfig.c record): see endLabel.
			cur.menuDef = true
		case m.parent != nil:
			m.parent.def = m.idx + 1
		}
	case "hide":
		if cur != nil {
			cur.hidden = true
		}
	case "exit":
		// Only a submenu has somewhere to go back to.
		if cur != nil && m.parent != nil {
			cur.nav = "MENU EXIT"
		}
	case "goto", "quit", "disable", "disabled":
		if cur != nil {
			cur.nav = "MENU " + strings.ToUpper(key)
		}
	case "separator":
		p.endLabel()
	case "begin":
		p.begin(rest, src)
	case "end":
		p.endLabel()
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
	p.endLabel()
	parent := p.cur
	sub := &menu{name: strings.ReplaceAll(tag, "^", ""), parent: parent, idx: len(parent.items), timeout: parent.timeout, onTimeout: parent.onTimeout, onSrc: parent.onSrc}
	parent.items = append(parent.items, menuItem{sub: sub})
	p.cur = sub
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
	// Each file keeps the menu it adds to as its own (readconfig.c's
	// local m): a MENU END the included file did not balance does not
	// move the includer's entries.
	if title != "" {
		p.endLabel()
	}
	p.cur = outer
}

// endLabel closes the LABEL being read, as syslinux's record() does: a
// MENU DEFAULT on it counts if it is shown and boots something.
func (p *parser) endLabel() {
	l := p.label
	p.label = nil
	if l == nil || !l.menuDef || l.hidden || (l.nav != "" && l.nav != "MENU GOTO") {
		return
	}
	l.menu.def = l.idx + 1
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
