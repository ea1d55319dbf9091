package lvm

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// section is a "name { ... }" block of LVM's text metadata format.
type section struct {
	name     string
	values   map[string]any // string, int64 or []any
	sections []*section
}

func (s *section) sub(name string) *section {
	for _, c := range s.sections {
		if c.name == name {
			return c
		}
	}
	return nil
}

func (s *section) str(k string) string {
	v, _ := s.values[k].(string)
	return v
}

func (s *section) num(k string) (int64, bool) {
	v, ok := s.values[k].(int64)
	return v, ok
}

func (s *section) strs(k string) []string {
	l, _ := s.values[k].([]any)
	var out []string
	for _, v := range l {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

const maxNest = 16

// parseConfig parses LVM's text metadata: "key = value" (a number, a
// quoted string or a [list]) and "name { ... }" sections, # comments.
func parseConfig(text string) (*section, error) {
	if len(text) > maxMetadata {
		return nil, errors.New("metadata larger than 1 MiB")
	}
	p := &cparser{s: text, line: 1}
	root := &section{values: map[string]any{}}
	if err := p.body(root, 0); err != nil {
		return nil, fmt.Errorf("metadata line %d: %w", p.line, err)
	}
	return root, nil
}

type cparser struct {
	s    string
	i    int
	line int
}

func (p *cparser) skip() {
	for p.i < len(p.s) {
		switch c := p.s[p.i]; {
		case c == '\n':
			p.line++
			p.i++
		case c == ' ' || c == '\t' || c == '\r':
			p.i++
		case c == '#':
			for p.i < len(p.s) && p.s[p.i] != '\n' {
				p.i++
			}
		default:
			return
		}
	}
}

func (p *cparser) ident() string {
	start := p.i
	for p.i < len(p.s) {
		c := p.s[p.i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-+", c) >= 0 {
			p.i++
			continue
		}
		break
	}
	return p.s[start:p.i]
}

func (p *cparser) body(sec *section, depth int) error {
	for {
		p.skip()
		if p.i >= len(p.s) {
			if depth > 0 {
				return errors.New("unexpected end: a section is not closed")
			}
			return nil
		}
		if p.s[p.i] == '}' {
			if depth == 0 {
				return errors.New("unexpected }")
			}
			p.i++
			return nil
		}
		name := p.ident()
		if name == "" {
			return fmt.Errorf("unexpected %q", p.s[p.i])
		}
		p.skip()
		if p.i >= len(p.s) {
			return errors.New("unexpected end after " + name)
		}
		switch p.s[p.i] {
		case '{':
			if depth+1 > maxNest {
				return fmt.Errorf("sections nested deeper than %d", maxNest)
			}
			p.i++
			child := &section{name: name, values: map[string]any{}}
			if err := p.body(child, depth+1); err != nil {
				return err
			}
			sec.sections = append(sec.sections, child)
		case '=':
			p.i++
			v, err := p.value(0)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			sec.values[name] = v
		default:
			return fmt.Errorf("expected = or { after %s", name)
		}
	}
}

func (p *cparser) value(depth int) (any, error) {
	p.skip()
	if p.i >= len(p.s) {
		return nil, errors.New("missing value")
	}
	switch c := p.s[p.i]; {
	case c == '"':
		var b strings.Builder
		for p.i++; p.i < len(p.s); p.i++ {
			switch p.s[p.i] {
			case '\\':
				if p.i+1 < len(p.s) {
					p.i++
					b.WriteByte(p.s[p.i])
				}
			case '"':
				p.i++
				return b.String(), nil
			case '\n':
				p.line++
				b.WriteByte('\n')
			default:
				b.WriteByte(p.s[p.i])
			}
		}
		return nil, errors.New("unterminated string")
	case c == '[':
		if depth > 0 {
			return nil, errors.New("nested list")
		}
		p.i++
		var out []any
		for {
			p.skip()
			if p.i < len(p.s) && p.s[p.i] == ']' {
				p.i++
				return out, nil
			}
			v, err := p.value(depth + 1)
			if err != nil {
				return nil, err
			}
			out = append(out, v)
			p.skip()
			if p.i < len(p.s) && p.s[p.i] == ',' {
				p.i++
			}
		}
	default:
		tok := p.ident()
		if tok == "" {
			return nil, fmt.Errorf("unexpected %q", c)
		}
		if n, err := strconv.ParseInt(tok, 10, 64); err == nil {
			return n, nil
		}
		if f, err := strconv.ParseFloat(tok, 64); err == nil {
			return int64(f), nil
		}
		return tok, nil
	}
}
