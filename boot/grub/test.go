package grub

import (
	"io/fs"
	"strconv"
	"strings"
)

// test evaluates GRUB's "test" / "[ ]" expression: "!" and parentheses,
// "-a" binding tighter than "-o", string (= == != < <= > >=) and integer
// (-eq -ne -lt -le -gt -ge) comparisons, and -n -z -e -f -d -s.
func (in *interp) test(a []string) bool {
	t := &tester{in: in, a: a}
	return t.or()
}

type tester struct {
	in *interp
	a  []string
	i  int
}

func (t *tester) more() bool   { return t.i < len(t.a) }
func (t *tester) peek() string { return t.a[t.i] }

func (t *tester) or() bool {
	v := t.and()
	for t.more() && t.peek() == "-o" {
		t.i++
		w := t.and()
		v = v || w
	}
	return v
}

func (t *tester) and() bool {
	v := t.not()
	for t.more() && t.peek() == "-a" {
		t.i++
		w := t.not()
		v = v && w
	}
	return v
}

func (t *tester) not() bool {
	if t.more() && t.peek() == "!" && t.i+1 < len(t.a) {
		t.i++
		return !t.not()
	}
	return t.primary()
}

func (t *tester) primary() bool {
	if !t.more() {
		return false
	}
	a := t.a[t.i]
	if a == "(" {
		t.i++
		v := t.or()
		if t.more() && t.peek() == ")" {
			t.i++
		}
		return v
	}
	// A binary comparison: a op b.
	if t.i+2 < len(t.a) {
		if v, ok := compare(a, t.a[t.i+1], t.a[t.i+2]); ok {
			t.i += 3
			return v
		}
	}
	switch a {
	case "-n", "-z", "-e", "-f", "-d", "-s":
		if t.i+1 < len(t.a) {
			arg := t.a[t.i+1]
			t.i += 2
			return t.unary(a, arg)
		}
	}
	t.i++
	return a != ""
}

func (t *tester) unary(op, arg string) bool {
	switch op {
	case "-n":
		return arg != ""
	case "-z":
		return arg == ""
	}
	vol, p := t.in.locate(arg)
	st, err := fs.Stat(t.in.vols[vol].FS, p)
	if err != nil {
		return false
	}
	switch op {
	case "-f":
		return st.Mode().IsRegular()
	case "-d":
		return st.IsDir()
	case "-s":
		return st.Size() > 0
	}
	return true
}

// compare evaluates "a op b"; ok is false when op is not a comparison.
func compare(a, op, b string) (v, ok bool) {
	switch op {
	case "=", "==":
		return a == b, true
	case "!=":
		return a != b, true
	case "<":
		return a < b, true
	case "<=":
		return a <= b, true
	case ">":
		return a > b, true
	case ">=":
		return a >= b, true
	}
	x, y := number(a), number(b)
	switch op {
	case "-eq":
		return x == y, true
	case "-ne":
		return x != y, true
	case "-lt":
		return x < y, true
	case "-le":
		return x <= y, true
	case "-gt":
		return x > y, true
	case "-ge":
		return x >= y, true
	}
	return false, false
}

// number reads a leading integer as GRUB's strtol does; anything else is 0.
func number(s string) int64 {
	s = strings.TrimSpace(s)
	end := 0
	if end < len(s) && (s[end] == '-' || s[end] == '+') {
		end++
	}
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	n, _ := strconv.ParseInt(s[:end], 10, 64)
	return n
}
