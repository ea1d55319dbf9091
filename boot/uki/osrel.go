package uki

import (
	"fmt"
	"strings"
)

// MaxText bounds the text sections warmboot reads at discovery (.osrel,
// .uname, .profile, .cmdline): each is a few hundred bytes in practice,
// and the kernel's command line is at most a few KiB.
const MaxText = 64 << 10

// ParseOSRelease reads os-release(5) text, as .osrel and .profile hold
// it, as leniently as systemd-boot reads them (line_get_key_value):
// KEY=VALUE lines, '#' comments; a value in matching single or double
// quotes loses them (backslash escapes are undone inside double quotes);
// any other value is taken as it is, spaces included (ukify writes
// "TITLE=Rescue shell" unquoted). A line that is not KEY=VALUE is
// skipped. The last assignment of a key wins. Only a text larger than
// MaxText is an error.
func ParseOSRelease(data []byte) (map[string]string, error) {
	if len(data) > MaxText {
		return nil, fmt.Errorf("%d bytes, more than %d", len(data), MaxText)
	}
	out := map[string]string{}
	text := strings.TrimRight(string(data), "\x00")
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsFunc(k, func(r rune) bool {
			return !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) {
			continue
		}
		out[k] = unquote(strings.TrimSpace(v))
	}
	return out, nil
}

func unquote(v string) string {
	if len(v) < 2 || v[0] != v[len(v)-1] || (v[0] != '"' && v[0] != '\'') {
		return v
	}
	q := v[0]
	v = v[1 : len(v)-1]
	if q == '\'' {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '\\' && i+1 < len(v) {
			i++
			c = v[i]
		}
		b.WriteByte(c)
	}
	return b.String()
}
