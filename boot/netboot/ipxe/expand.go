package ipxe

import (
	"fmt"
	"strings"
)

// maxExpansions bounds the settings expanded in one token: a setting
// whose value names itself would otherwise expand forever.
const maxExpansions = 64

// expand replaces ${setting} in t as iPXE's expand_settings does: the
// first "}" closes the last "${" before it, and the result is expanded
// again until none is left. An unknown setting is empty.
func (r *runner) expand(t string) (string, error) {
	for n := 0; ; n++ {
		start, end := -1, -1
		for i := 0; i < len(t); i++ {
			if t[i] == '$' && i+1 < len(t) && t[i+1] == '{' {
				start = i
			}
			if start >= 0 && t[i] == '}' {
				end = i
				break
			}
		}
		if end < 0 {
			return t, nil
		}
		if n >= maxExpansions {
			return "", fmt.Errorf("%q: more than %d settings expanded (does a setting name itself?)", short(t), maxExpansions)
		}
		t = t[:start] + r.lookup(t[start+2:end]) + t[end+1:]
		if len(t) > MaxExpansion {
			return "", fmt.Errorf("a token expanded to more than %d bytes", MaxExpansion)
		}
	}
}

func short(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// lookup reads one setting: "name", "scope/name", either with ":type".
// An unscoped name is looked for in net0 too, as iPXE searches every
// settings block; a scoped one without its scope.
func (r *runner) lookup(name string) string {
	typ := ""
	if i := strings.LastIndexByte(name, ':'); i >= 0 {
		name, typ = name[:i], name[i+1:]
	}
	v, ok := r.settings[name]
	if !ok {
		if i := strings.IndexByte(name, '/'); i >= 0 {
			v, ok = r.settings[name[i+1:]]
		} else {
			v, ok = r.settings["net0/"+name]
		}
	}
	if !ok {
		return ""
	}
	switch typ {
	case "hexhyp":
		return strings.ReplaceAll(v, ":", "-")
	case "hexraw":
		return strings.ReplaceAll(v, ":", "")
	}
	return v
}
