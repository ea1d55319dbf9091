package grub

import "github.com/warmboot/warmboot/boot/internal/cfgfile"

// cmd is one parsed command: a simple command (words), or a compound one.
type cmd struct {
	line  int
	words []word
	kind  string // "" simple, "if", "menuentry", "submenu", "hiddenentry", "function", "loop"
	// if: clauses in order; a clause with nil cond is the else branch.
	clauses []clause
	// menuentry, submenu, function, loop: the body.
	body []cmd
}

type clause struct {
	cond, body []cmd
	isElse     bool
}

type parser struct {
	toks  []token
	pos   int
	depth int // blocks open around pos
}

// maxNest bounds how deeply blocks (if, menuentry, submenu, function,
// loops) nest. Generated configs nest three or four deep; a hostile one
// nested thousands deep would cost memory and time on every level.
const maxNest = 32

func parse(src string) ([]cmd, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	cmds, term, err := p.list(nil)
	if err != nil {
		return nil, err
	}
	if term != "" {
		return nil, cfgfile.LineErrorf(p.lastLine(), "unexpected %q", term)
	}
	return cmds, nil
}

func (p *parser) lastLine() int {
	for i := min(p.pos, len(p.toks)-1); i >= 0; i-- {
		if !p.toks[i].sep {
			return p.toks[i].w.line
		}
	}
	return 1
}

func (p *parser) peekWord() (word, bool) {
	for p.pos < len(p.toks) && p.toks[p.pos].sep {
		p.pos++
	}
	if p.pos >= len(p.toks) {
		return word{}, false
	}
	return p.toks[p.pos].w, true
}

// list parses commands until EOF or until a command starts with one of the
// terms (consumed and returned).
func (p *parser) list(terms map[string]bool) ([]cmd, string, error) {
	var out []cmd
	for {
		w, ok := p.peekWord()
		if !ok {
			return out, "", nil
		}
		kw := w.keyword()
		if terms[kw] {
			p.pos++
			return out, kw, nil
		}
		var c cmd
		var err error
		if isBlock(kw) {
			if p.depth >= maxNest {
				return nil, "", cfgfile.LineErrorf(w.line, "blocks nested deeper than %d", maxNest)
			}
			p.depth++
		}
		switch kw {
		case "if":
			p.pos++
			c, err = p.ifCmd(w.line)
		case "menuentry", "submenu", "function", "hiddenentry":
			c, err = p.block(kw, w.line)
		case "while", "until", "for":
			p.pos++
			c, err = p.loop(w.line)
		case "then", "elif", "else", "fi", "do", "done", "}", "{":
			return nil, "", cfgfile.LineErrorf(w.line, "unexpected %q", kw)
		default:
			c = p.simple(terms)
		}
		if err != nil {
			return nil, "", err
		}
		if isBlock(kw) {
			p.depth--
		}
		out = append(out, c)
	}
}

func isBlock(kw string) bool {
	switch kw {
	case "if", "menuentry", "submenu", "function", "while", "until", "for", "hiddenentry":
		return true
	}
	return false
}

// simple reads words up to a separator, or up to a "}" that closes the
// enclosing block on the same line.
func (p *parser) simple(terms map[string]bool) cmd {
	c := cmd{line: p.toks[p.pos].w.line}
	for p.pos < len(p.toks) && !p.toks[p.pos].sep {
		w := p.toks[p.pos].w
		if w.keyword() == "}" && terms["}"] {
			break
		}
		c.words = append(c.words, w)
		p.pos++
	}
	return c
}

func (p *parser) ifCmd(line int) (cmd, error) {
	c := cmd{kind: "if", line: line}
	for {
		cond, term, err := p.list(map[string]bool{"then": true})
		if err != nil {
			return c, err
		}
		if term != "then" {
			return c, cfgfile.LineErrorf(line, "\"if\" without \"then\"")
		}
		body, term, err := p.list(map[string]bool{"elif": true, "else": true, "fi": true})
		if err != nil {
			return c, err
		}
		c.clauses = append(c.clauses, clause{cond: cond, body: body})
		switch term {
		case "fi":
			return c, nil
		case "else":
			body, term, err := p.list(map[string]bool{"fi": true})
			if err != nil {
				return c, err
			}
			if term != "fi" {
				return c, cfgfile.LineErrorf(line, "\"if\" without \"fi\"")
			}
			c.clauses = append(c.clauses, clause{body: body, isElse: true})
			return c, nil
		case "elif":
			continue
		default:
			return c, cfgfile.LineErrorf(line, "\"if\" without \"fi\"")
		}
	}
}

// block parses `menuentry ARGS { BODY }` and its kin. The "{" must be on
// the command's line, as GRUB requires.
func (p *parser) block(kind string, line int) (cmd, error) {
	c := cmd{kind: kind, line: line}
	p.pos++ // the keyword
	for {
		if p.pos >= len(p.toks) || p.toks[p.pos].sep {
			return c, cfgfile.LineErrorf(line, "%s without \"{\" on the same line", kind)
		}
		w := p.toks[p.pos].w
		p.pos++
		if w.keyword() == "{" {
			break
		}
		c.words = append(c.words, w)
	}
	body, term, err := p.list(map[string]bool{"}": true})
	if err != nil {
		return c, err
	}
	if term != "}" {
		return c, cfgfile.LineErrorf(line, "%s is missing its closing \"}\"", kind)
	}
	c.body = body
	return c, nil
}

func (p *parser) loop(line int) (cmd, error) {
	c := cmd{kind: "loop", line: line}
	if _, term, err := p.list(map[string]bool{"do": true}); err != nil {
		return c, err
	} else if term != "do" {
		return c, cfgfile.LineErrorf(line, "loop without \"do\"")
	}
	body, term, err := p.list(map[string]bool{"done": true})
	if err != nil {
		return c, err
	}
	if term != "done" {
		return c, cfgfile.LineErrorf(line, "loop without \"done\"")
	}
	c.body = body
	return c, nil
}
