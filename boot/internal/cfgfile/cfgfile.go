// Package cfgfile reads boot config files with a size bound, and splits
// them into lines the way the loaders that wrote them do: configs are a
// few kilobytes, and a garbage or hostile file must not exhaust the
// bootloader's memory.
//
// Real configs are not clean text: Windows-edited files end lines in CRLF,
// titles carry Latin-1 bytes, Debian's installer menus carry a BEL. GRUB,
// syslinux and systemd-boot read all of these, so warmboot does too; only a
// file with a NUL byte, which no loader treats as text, is refused.
package cfgfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf8"

	"github.com/warmboot/warmboot/boot/entry"
)

// MaxSize is the largest config file read.
const MaxSize = 1 << 20

// Read reads name from fsys, refusing files over MaxSize.
func Read(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if len(data) > MaxSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a boot config", name, MaxSize)
	}
	return data, nil
}

// Lines splits a config into lines without their "\n" or "\r\n" ends. It
// returns ErrBinary, wrapped with the 1-based line number, when data holds
// a NUL byte.
func Lines(data []byte) ([]string, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, &LineError{Line: 1 + bytes.Count(data[:i], []byte("\n")), Err: ErrBinary}
	}
	lines := strings.Split(string(data), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSuffix(l, "\r")
	}
	return lines, nil
}

// Label makes a title from a config safe to print on a console: invalid
// UTF-8 becomes U+FFFD and control characters (a BEL, an escape sequence
// that would repaint the screen) are dropped.
func Label(s string) string {
	if utf8.ValidString(s) && !strings.ContainsFunc(s, isControl) {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if isControl(r) {
			return -1
		}
		return r
	}, s)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 }

// LineError is a problem on one line of a config. It prints as
// "line N: ..."; At puts the line into the source it names instead.
type LineError struct {
	Line int
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// LineErrorf is a LineError with a formatted message.
func LineErrorf(line int, format string, args ...any) error {
	return &LineError{Line: line, Err: fmt.Errorf(format, args...)}
}

// At is err as a problem in the config file src: on the line a
// LineError names, and with fix (what to do) appended when not empty.
func At(src entry.Source, err error, fix string) *entry.SourceError {
	var le *LineError
	if errors.As(err, &le) {
		src.Line, err = le.Line, le.Err
	}
	if fix != "" {
		err = fmt.Errorf("%w; %s", err, fix)
	}
	return &entry.SourceError{Source: src, Err: err}
}
