// Package syslinux reads SYSLINUX, EXTLINUX and ISOLINUX configuration files
// into boot entries: LABEL blocks with KERNEL/LINUX, APPEND and INITRD,
// DEFAULT/ONTIMEOUT/MENU DEFAULT, TIMEOUT and INCLUDE.
//
// We do not use u-root's pkg/boot/syslinux: it imports pkg/curl (net/http,
// crypto/tls, TFTP; ~3.5 MB of the initramfs) to fetch files over the
// network, and does not report the file and line an entry came from.
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

const maxDepth = 8

type label struct {
	name, menuLabel string
	kernel          string
	appendSet       bool
	appendArgs      string
	initrds         []string
	src             entry.Source
	other           string // a non-Linux entry kind (COM32, LOCALBOOT, CONFIG)
}

type parser struct {
	fsys       fs.FS
	dir        string // directory relative paths are resolved against
	labels     []*label
	globalArgs string
	def        string
	defSrc     entry.Source
	menuDef    *label
	ui         bool // a menu module (UI, or DEFAULT menu.c32) picks the default
	timeout    *time.Duration
	warnings   []entry.Warning
}

// Parse reads the syslinux config at name in fsys (rooted at the
// filesystem the config lives on). Relative paths are resolved against the
// config's directory, as syslinux does.
func Parse(fsys fs.FS, name string) (*entry.Config, error) {
	p := &parser{fsys: fsys, dir: path.Dir(name)}
	if err := p.file(name, 0); err != nil {
		return nil, err
	}
	cfg := &entry.Config{Format: entry.Syslinux, Source: entry.Source{File: "/" + name}, Timeout: p.timeout}
	index := map[*label]int{}
	for _, l := range p.labels {
		e, why := p.entry(l)
		if e == nil {
			p.warnings = append(p.warnings, entry.Warnf(l.src, "LABEL %s %s; skipped", l.name, why))
			continue
		}
		index[l] = len(cfg.Entries)
		cfg.Entries = append(cfg.Entries, *e)
	}
	var def *label
	defName, _, _ := strings.Cut(p.def, " ")
	byName := func() *label {
		for _, l := range p.labels {
			if l.name == defName {
				return l
			}
		}
		return nil
	}
	// With a menu module (UI vesamenu.c32, or the older DEFAULT
	// vesamenu.c32) the module's MENU DEFAULT wins; without one the core
	// boots DEFAULT.
	if isModule(defName) {
		p.ui, defName = true, ""
	}
	switch {
	case p.ui && p.menuDef != nil:
		def = p.menuDef
	case defName != "":
		if def = byName(); def == nil && len(cfg.Entries) > 0 {
			p.warnings = append(p.warnings, entry.Warnf(p.defSrc, "default %q matches no LABEL; using %q", defName, cfg.Entries[0].ID))
		}
	case p.menuDef != nil:
		def = p.menuDef
	}
	if def != nil {
		if i, ok := index[def]; ok {
			cfg.Default = i
		} else if len(cfg.Entries) > 0 {
			p.warnings = append(p.warnings, entry.Warnf(p.defSrc, "default %q cannot boot; using %q", def.name, cfg.Entries[0].ID))
		}
	}
	cfg.Warnings = p.warnings
	return cfg, nil
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
	data, err := cfgfile.Read(p.fsys, name)
	if err != nil {
		return err
	}
	lines, err := cfgfile.Lines(data)
	if err != nil {
		return fmt.Errorf("/%s:%s; fix or remove the file", name, strings.TrimPrefix(err.Error(), "line "))
	}
	var cur *label
	inText := false
	for n, raw := range lines {
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
			key, rest = splitKey(rest)
			switch key {
			case "label":
				if cur != nil {
					cur.menuLabel = strings.ReplaceAll(rest, "^", "")
				}
			case "default":
				if cur != nil {
					p.menuDef = cur
					p.defSrc = src
				}
			case "include":
				p.include(rest, src, depth)
			}
			continue
		}
		switch key {
		case "label":
			cur = &label{name: rest, src: src}
			p.labels = append(p.labels, cur)
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
		case "default", "ontimeout":
			p.def, p.defSrc = rest, src
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

func (p *parser) include(file string, src entry.Source, depth int) {
	name := strings.TrimPrefix(p.resolve(firstField(file)), "/")
	if err := p.file(name, depth+1); err != nil {
		p.warnings = append(p.warnings, entry.Warnf(src, "INCLUDE %s: %v", file, err))
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
