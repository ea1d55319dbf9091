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
// it: KEY=VALUE lines, values optionally in single or double quotes with
// backslash escapes inside double quotes, '#' comments. A malformed line
// is an error naming it; the last assignment of a key wins.
func ParseOSRelease(data []byte) (map[string]string, error) {
	if len(data) > MaxText {
		return nil, fmt.Errorf("%d bytes, more than %d", len(data), MaxText)
	}
	out := map[string]string{}
	text := strings.TrimRight(string(data), "\x00")
	for n, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" || strings.ContainsFunc(k, func(r rune) bool {
			return !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
		}) {
			return nil, fmt.Errorf("line %d: not KEY=VALUE", n+1)
		}
		val, err := unquote(v)
		if err != nil {
			return nil, fmt.Errorf("line %d: %s: %v", n+1, k, err)
		}
		out[k] = val
	}
	return out, nil
}

func unquote(v string) (string, error) {
	if v == "" {
		return "", nil
	}
	switch q := v[0]; q {
	case '"', '\'':
		if len(v) < 2 || v[len(v)-1] != q {
			return "", fmt.Errorf("unterminated %c quote", q)
		}
		v = v[1 : len(v)-1]
		if q == '\'' {
			return v, nil
		}
		var b strings.Builder
		for i := 0; i < len(v); i++ {
			c := v[i]
			if c == '\\' && i+1 < len(v) {
				i++
				c = v[i]
			} else if c == '"' {
				return "", fmt.Errorf("unescaped quote inside the value")
			}
			b.WriteByte(c)
		}
		return b.String(), nil
	}
	if strings.ContainsAny(v, "\"'`$\\ \t") {
		return "", fmt.Errorf("value %q needs quotes", v)
	}
	return v, nil
}
