// Package kmod picks kernel modules out of an extracted kernel package and
// orders them for loading: it reads each module's .modinfo section (name,
// depends, softdep, alias), resolves the closure of the modules asked for,
// dependencies and "softdep pre:" modules first, and writes the
// modules.dep that depmod would have written.
//
// Debian's linux-image package ships no modules.dep (depmod runs at
// install time), and u-root's init loads /lib/modules/*.ko in glob order
// with no dependency resolution, so the image build does this itself.
package kmod

import (
	"bytes"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Module is one .ko file's metadata.
type Module struct {
	Name    string   // normalized: "-" becomes "_"
	Path    string   // relative to the modules directory: "kernel/fs/ext4/ext4.ko"
	Depends []string // hard dependencies (module names)
	SoftPre []string // "softdep pre:" names or aliases
	Aliases []string
}

// Normalize makes module names comparable: the kernel treats "-" and "_"
// alike.
func Normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// ParseModinfo reads the .modinfo section of an ELF kernel module.
func ParseModinfo(data []byte) (*Module, error) {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not an ELF kernel module: %w", err)
	}
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section: not a kernel module")
	}
	raw, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .modinfo: %w", err)
	}
	return parseFields(raw), nil
}

// parseFields parses NUL-separated key=value fields.
func parseFields(raw []byte) *Module {
	m := &Module{}
	for _, field := range bytes.Split(raw, []byte{0}) {
		k, v, ok := strings.Cut(string(field), "=")
		if !ok {
			continue
		}
		switch k {
		case "name":
			m.Name = Normalize(v)
		case "depends":
			for _, d := range strings.Split(v, ",") {
				if d != "" {
					m.Depends = append(m.Depends, Normalize(d))
				}
			}
		case "softdep":
			// "pre: a b post: c"
			pre := false
			for _, w := range strings.Fields(v) {
				switch w {
				case "pre:":
					pre = true
				case "post:":
					pre = false
				default:
					if pre {
						m.SoftPre = append(m.SoftPre, w)
					}
				}
			}
		case "alias":
			m.Aliases = append(m.Aliases, v)
		}
	}
	return m
}

// Tree is the modules of one kernel release.
type Tree struct {
	Dir     string // .../lib/modules/<release>
	Release string
	mods    map[string]*Module
	builtin map[string]bool
}

// Open indexes the modules under dir (a lib/modules/<release> directory).
func Open(dir string) (*Tree, error) {
	t := &Tree{Dir: dir, Release: filepath.Base(dir), mods: map[string]*Module{}, builtin: map[string]bool{}}
	if data, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(data)) {
			t.builtin[Normalize(strings.TrimSuffix(filepath.Base(l), ".ko"))] = true
		}
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return nil
		case strings.HasSuffix(p, ".ko.xz"), strings.HasSuffix(p, ".ko.zst"), strings.HasSuffix(p, ".ko.gz"):
			return fmt.Errorf("%s: compressed modules are not supported; use a kernel package with plain .ko files", p)
		case !strings.HasSuffix(p, ".ko"):
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		m, err := ParseModinfo(data)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		m.Path, _ = filepath.Rel(dir, p)
		if m.Name == "" {
			m.Name = Normalize(strings.TrimSuffix(filepath.Base(p), ".ko"))
		}
		t.mods[m.Name] = m
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("indexing modules in %s: %w", dir, err)
	}
	if len(t.mods) == 0 {
		return nil, fmt.Errorf("no .ko files in %s", dir)
	}
	return t, nil
}

// lookup finds modules by name, or by alias when no module has that name.
// Several modules may provide one alias (crc32c_generic and crc32c_intel
// both provide "crypto-crc32c"); all are returned, sorted by name.
func (t *Tree) lookup(name string) []*Module {
	if m, ok := t.mods[Normalize(name)]; ok {
		return []*Module{m}
	}
	var out []*Module
	for _, m := range t.mods {
		for _, a := range m.Aliases {
			if a == name {
				out = append(out, m)
				break
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Resolve returns the modules needed to load every name in want, each
// after everything it depends on. A name built into the kernel needs
// nothing; a name that is neither built in nor a module is an error.
func (t *Tree) Resolve(want ...string) ([]*Module, error) {
	var order []*Module
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(m *Module, chain []string) error
	visit = func(m *Module, chain []string) error {
		switch state[m.Name] {
		case 2:
			return nil
		case 1:
			return fmt.Errorf("dependency cycle: %s", strings.Join(append(chain, m.Name), " -> "))
		}
		state[m.Name] = 1
		chain = append(chain, m.Name)
		for _, s := range m.SoftPre {
			// Soft dependencies are best effort: an alias no module
			// provides is skipped, as modprobe does.
			for _, p := range t.lookup(s) {
				if err := visit(p, chain); err != nil {
					return err
				}
			}
		}
		for _, d := range m.Depends {
			dm, ok := t.mods[d]
			if !ok {
				if t.builtin[d] {
					continue
				}
				return fmt.Errorf("%s depends on %s, which is not in %s", m.Name, d, t.Dir)
			}
			if err := visit(dm, chain); err != nil {
				return err
			}
		}
		state[m.Name] = 2
		order = append(order, m)
		return nil
	}
	for _, w := range want {
		ms := t.lookup(w)
		if len(ms) == 0 {
			if t.builtin[Normalize(w)] {
				continue
			}
			return nil, fmt.Errorf("module %s is neither in %s nor built into kernel %s", w, t.Dir, t.Release)
		}
		for _, m := range ms {
			if err := visit(m, nil); err != nil {
				return nil, err
			}
		}
	}
	return order, nil
}

// ModulesDep renders mods in depmod's modules.dep format ("path: deps"),
// listing for each module its full dependency closure, nearest first.
func (t *Tree) ModulesDep(mods []*Module) []byte {
	var b bytes.Buffer
	for _, m := range mods {
		var deps []string
		seen := map[string]bool{}
		var walk func(m *Module)
		walk = func(m *Module) {
			for _, d := range m.Depends {
				if dm, ok := t.mods[d]; ok && !seen[d] {
					seen[d] = true
					deps = append(deps, dm.Path)
					walk(dm)
				}
			}
		}
		walk(m)
		b.WriteString(m.Path + ":")
		if len(deps) > 0 {
			b.WriteString(" " + strings.Join(deps, " "))
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}
