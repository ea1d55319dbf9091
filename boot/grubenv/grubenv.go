// Package grubenv reads and rewrites GRUB's environment block (grubenv) the
// way GRUB itself does (grub-core/lib/envblk.c): a header line, then
// "name=value" lines in which a backslash escapes the next byte (GRUB
// writes "\\" for a backslash and a backslash before a newline inside a
// value), comment lines starting with "#", and the rest of the block,
// usually 1024 bytes, padded with "#".
//
// A change rewrites the block in place: same size, variables in their
// order, a changed one where it was and a new one at the end, the padding
// taking up the difference. A change that does not fit is an error, as
// grub-editenv's "environment block too small": the file is never grown
// or re-created, so GRUB, which reads it by its blocks on disk, still
// finds it. Writing the block back to its file is the caller's (package
// state); this package only computes bytes.
package grubenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Header starts every environment block.
const Header = "# GRUB Environment Block\n"

// Size is the size of a block grub-editenv creates.
const Size = 1024

// Sentinels.
var (
	ErrFormat  = errors.New("not a GRUB environment block")
	ErrTooBig  = errors.New("environment block too small")
	ErrBadName = errors.New("not a variable name GRUB can store")
)

// Var is one variable, in block order.
type Var struct{ Name, Value string }

// line is where one variable's line lies in a block: [start, end) with
// end after its newline.
type line struct {
	Var
	start, end int
}

// free returns where the padding starts: the run of "#" ending the block.
func free(b []byte) int {
	i := len(b)
	for i > len(Header) && b[i-1] == '#' {
		i--
	}
	return i
}

// scan walks b's lines up to the padding, as grub_envblk_iterate does.
func scan(b []byte) ([]line, error) {
	if !bytes.HasPrefix(b, []byte(Header)) {
		return nil, fmt.Errorf("%w (no %q header)", ErrFormat, strings.TrimSpace(Header))
	}
	end := free(b)
	var out []line
	for p := len(Header); p < end; {
		if b[p] == '#' {
			nl := bytes.IndexByte(b[p:end], '\n')
			if nl < 0 {
				break // padding with a comment's start: nothing after
			}
			p += nl + 1
			continue
		}
		eq := bytes.IndexByte(b[p:end], '=')
		if eq <= 0 || bytes.IndexByte(b[p:p+eq], '\n') >= 0 {
			return nil, fmt.Errorf("%w: malformed line at byte %d", ErrFormat, p)
		}
		name := string(b[p : p+eq])
		var v strings.Builder
		i := p + eq + 1
		for ; i < end && b[i] != '\n'; i++ {
			if b[i] == '\\' && i+1 < end {
				i++
			}
			v.WriteByte(b[i])
		}
		if i >= end {
			return nil, fmt.Errorf("%w: variable %s has no line end", ErrFormat, name)
		}
		out = append(out, line{Var{name, v.String()}, p, i + 1})
		p = i + 1
	}
	return out, nil
}

// Parse returns the variables of block b, in order.
func Parse(b []byte) ([]Var, error) {
	ls, err := scan(b)
	if err != nil {
		return nil, err
	}
	out := make([]Var, len(ls))
	for i, l := range ls {
		out[i] = l.Var
	}
	return out, nil
}

// Map returns the variables of b by name (the last of a repeated name,
// as GRUB's load_env sets them in order).
func Map(b []byte) (map[string]string, error) {
	vs, err := Parse(b)
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(vs))
	for _, v := range vs {
		m[v.Name] = v.Value
	}
	return m, nil
}

func encode(name, value string) []byte {
	var b bytes.Buffer
	b.WriteString(name)
	b.WriteByte('=')
	for i := 0; i < len(value); i++ {
		if value[i] == '\\' || value[i] == '\n' {
			b.WriteByte('\\')
		}
		b.WriteByte(value[i])
	}
	b.WriteByte('\n')
	return b.Bytes()
}

func checkName(name string) error {
	if name == "" || strings.ContainsAny(name, "=\n") || name[0] == '#' {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return nil
}

// splice returns b with [start, end) replaced by repl, the padding
// absorbing the difference, or ErrTooBig.
func splice(b []byte, start, end int, repl []byte) ([]byte, error) {
	used := free(b)
	if b[used-1] != '\n' {
		// Something other than a whole line runs into the padding:
		// appending would glue a variable onto it. GRUB never writes
		// this; leave it alone.
		return nil, fmt.Errorf("%w: its text does not end with a line end before the padding; not rewriting it", ErrFormat)
	}
	if used-(end-start)+len(repl) > len(b) {
		return nil, fmt.Errorf("%w: %d bytes, %d free", ErrTooBig, len(b), len(b)-used)
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:start]...)
	out = append(out, repl...)
	out = append(out, b[end:used]...)
	for len(out) < len(b) {
		out = append(out, '#')
	}
	return out, nil
}

// Set returns block b with name set to value: in place where name is, at
// the end of the variables when it is new. A name the block holds twice
// (GRUB sets the first, but load_env reads them in order, so the last
// wins) keeps only its first line, so what is set is what GRUB reads.
func Set(b []byte, name, value string) ([]byte, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	ls, err := scan(b)
	if err != nil {
		return nil, err
	}
	at := free(b)
	first := line{start: at, end: at}
	for i, l := range ls {
		if l.Name == name {
			first = l
			if b, err = removeAll(b, ls[i+1:], name); err != nil {
				return nil, err
			}
			break
		}
	}
	return splice(b, first.start, first.end, encode(name, value))
}

// Unset returns block b without name (every line of it; unchanged when
// it is not there).
func Unset(b []byte, name string) ([]byte, error) {
	ls, err := scan(b)
	if err != nil {
		return nil, err
	}
	return removeAll(b, ls, name)
}

// removeAll removes name's lines among ls from b, last first so the
// earlier lines stay where they are.
func removeAll(b []byte, ls []line, name string) ([]byte, error) {
	out := bytes.Clone(b)
	for i := len(ls) - 1; i >= 0; i-- {
		if ls[i].Name != name {
			continue
		}
		var err error
		if out, err = splice(out, ls[i].start, ls[i].end, nil); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// New is an empty block of Size bytes, as "grub-editenv FILE create"
// makes it.
func New() []byte {
	b := []byte(Header + "# WARNING: Do not edit this file by tools other than grub-editenv!!!\n")
	return append(b, bytes.Repeat([]byte{'#'}, Size-len(b))...)
}

// EditFile rewrites the environment block file (a path under r) in place, as
// GRUB and grub-editenv do (same size: GRUB writes its blocks where they
// are on the disk); create makes a missing file as grub-editenv does.
func EditFile(r *os.Root, file string, edit func([]byte) ([]byte, error), create bool) error {
	name := strings.TrimPrefix(file, "/")
	f, err := r.OpenFile(name, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) && create {
		f, err = r.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = f.Write(New())
			if err == nil {
				_, err = f.Seek(0, io.SeekStart)
			}
		}
	}
	if err != nil {
		return err
	}
	defer f.Close()
	old, err := io.ReadAll(io.LimitReader(f, 64<<10))
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	blk, err := edit(old)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if bytes.Equal(blk, old) {
		return nil
	}
	if _, err := f.WriteAt(blk, 0); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return f.Sync()
}
