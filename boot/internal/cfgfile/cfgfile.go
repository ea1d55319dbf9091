// Package cfgfile reads boot config files with a size bound: configs are a
// few kilobytes, and a garbage or hostile file must not exhaust the
// bootloader's memory.
package cfgfile

import (
	"fmt"
	"io"
	"io/fs"
	"unicode/utf8"
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

// Text reports whether a line is text a config could hold: valid UTF-8
// with no control characters but tab.
func Text(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return false
		}
	}
	return true
}
