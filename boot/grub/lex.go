package grub

import (
	"strings"

	"github.com/warmboot/warmboot/boot/internal/cfgfile"
)

// part is a piece of a word: literal text, or a variable reference that is
// expanded when the command runs (GRUB expands at run time, so "set"
// earlier in the script changes what later words mean).
type part struct {
	lit    string
	varRef string // non-empty for $name / ${name}
	// quoted is set for a variable inside double quotes: its value stays
	// one word. An unquoted one is split into words at blanks, and
	// vanishes when empty, as in GRUB.
	quoted bool
}

// word is one shell word. bare is true for an unquoted word with no
// variables: only those can be keywords ("if", "{").
type word struct {
	parts []part
	bare  bool
	line  int
}

func (w word) literal() string {
	var b strings.Builder
	for _, p := range w.parts {
		b.WriteString(p.lit)
	}
	return b.String()
}

// keyword returns the word's text if it is an unquoted literal.
func (w word) keyword() string {
	if !w.bare {
		return ""
	}
	return w.literal()
}

// token is a word, or a command separator (newline or ";") when sep.
type token struct {
	w   word
	sep bool
}

// lex splits a GRUB script into words and separators following GRUB's
// quoting rules: '...' is literal, "..." expands variables and honours \\,
// \", \$; outside quotes a backslash escapes the next character, and "#"
// at the start of a word begins a comment.
func lex(src string) ([]token, error) {
	var (
		toks  []token
		cur   word
		inW   bool
		line  = 1
		lit   strings.Builder
		flush = func() {
			if lit.Len() > 0 {
				cur.parts = append(cur.parts, part{lit: lit.String()})
				lit.Reset()
			}
		}
		endWord = func() {
			if inW {
				flush()
				toks = append(toks, token{w: cur})
			}
			cur, inW = word{}, false
		}
		startWord = func() {
			if !inW {
				cur, inW = word{bare: true, line: line}, true
			}
		}
	)
	readVar := func(i int) (string, int, error) {
		// src[i] == '$'
		if i+1 < len(src) && src[i+1] == '{' {
			end := strings.IndexByte(src[i+2:], '}')
			if end < 0 {
				return "", 0, cfgfile.LineErrorf(line, "unterminated ${")
			}
			return src[i+2 : i+2+end], i + 3 + end, nil
		}
		j := i + 1
		if j < len(src) && strings.IndexByte("?#@*", src[j]) >= 0 {
			return src[j : j+1], j + 1, nil
		}
		for j < len(src) && (isAlnum(src[j]) || src[j] == '_') {
			j++
		}
		return src[i+1 : j], j, nil
	}
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n' || c == ';':
			endWord()
			toks = append(toks, token{sep: true})
			if c == '\n' {
				line++
			}
			i++
		case c == ' ' || c == '\t' || c == '\r':
			endWord()
			i++
		case c == '#' && !inW:
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == '\\':
			if i+1 < len(src) && src[i+1] == '\n' {
				line++
				i += 2
				continue
			}
			startWord()
			cur.bare = false
			if i+1 < len(src) {
				lit.WriteByte(src[i+1])
			}
			i += 2
		case c == '\'':
			startWord()
			cur.bare = false
			end := strings.IndexByte(src[i+1:], '\'')
			if end < 0 {
				return nil, cfgfile.LineErrorf(line, "unterminated single quote")
			}
			s := src[i+1 : i+1+end]
			line += strings.Count(s, "\n")
			lit.WriteString(s)
			i += end + 2
		case c == '"':
			startWord()
			cur.bare = false
			start := line
			i++
			for {
				if i >= len(src) {
					return nil, cfgfile.LineErrorf(start, "unterminated double quote")
				}
				d := src[i]
				if d == '"' {
					i++
					break
				}
				switch {
				case d == '\\' && i+1 < len(src) && strings.IndexByte("\\\"$\n", src[i+1]) >= 0:
					if src[i+1] == '\n' {
						line++
					} else {
						lit.WriteByte(src[i+1])
					}
					i += 2
				case d == '$':
					name, next, err := readVar(i)
					if err != nil {
						return nil, err
					}
					if name == "" {
						lit.WriteByte('$')
					} else {
						flush()
						cur.parts = append(cur.parts, part{varRef: name, quoted: true})
					}
					i = next
				default:
					if d == '\n' {
						line++
					}
					lit.WriteByte(d)
					i++
				}
			}
		case c == '$':
			startWord()
			name, next, err := readVar(i)
			if err != nil {
				return nil, err
			}
			if name == "" {
				lit.WriteByte('$')
			} else {
				cur.bare = false
				flush()
				cur.parts = append(cur.parts, part{varRef: name})
			}
			i = next
		default:
			startWord()
			lit.WriteByte(c)
			i++
		}
	}
	endWord()
	return toks, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
