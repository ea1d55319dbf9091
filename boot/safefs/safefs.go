// Package safefs serves a directory as an fs.FS that a hostile disk cannot
// turn against the bootloader: every name is resolved beneath the directory
// (os.Root: a symlink that leaves it, "..", or an absolute link is refused,
// so a grub.cfg linked to /dev/console reads nothing), and only regular
// files and directories are opened, checked before and after the open, which
// itself never blocks (O_NONBLOCK, so a FIFO cannot hang the boot) and never
// takes a controlling terminal.
//
// The standard library's os.DirFS follows symlinks anywhere and opens
// FIFOs and device nodes, which is right for a program's own files and
// wrong for a disk nobody vouched for.
package safefs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
)

// FS is a directory served safely.
type FS struct {
	root *os.Root
	err  error
}

// Dir serves dir. If dir cannot be opened, every call returns that error.
func Dir(dir string) *FS {
	r, err := os.OpenRoot(dir)
	return &FS{root: r, err: err}
}

// Close releases the directory.
func (f *FS) Close() error {
	if f.root == nil {
		return nil
	}
	return f.root.Close()
}

func kindOK(m fs.FileMode) bool { return m.IsRegular() || m.IsDir() }

// Open opens a regular file or directory beneath the root.
func (f *FS) Open(name string) (fs.File, error) {
	if f.err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: f.err}
	}
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	st, err := f.root.Stat(name)
	if err != nil {
		return nil, err
	}
	if !kindOK(st.Mode()) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (%s)", ErrNotRegular, typeName(st.Mode()))}
	}
	file, err := f.root.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	// The name may have been swapped between the checks.
	if st, err = file.Stat(); err != nil || !kindOK(st.Mode()) {
		file.Close()
		if err == nil {
			err = fmt.Errorf("%w (%s)", ErrNotRegular, typeName(st.Mode()))
		}
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return file, nil
}

// Stat describes name, following symlinks that stay beneath the root.
func (f *FS) Stat(name string) (fs.FileInfo, error) {
	if f.err != nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: f.err}
	}
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrInvalid}
	}
	return f.root.Stat(name)
}

// Lstat describes name without following a final symlink.
func (f *FS) Lstat(name string) (fs.FileInfo, error) {
	if f.err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: f.err}
	}
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrInvalid}
	}
	return f.root.Lstat(name)
}

// ReadLink returns a symlink's target as written, wherever it points: it
// reads the link, never what it names.
func (f *FS) ReadLink(name string) (string, error) {
	if f.err != nil {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: f.err}
	}
	if !fs.ValidPath(name) {
		return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrInvalid}
	}
	return f.root.Readlink(name)
}

// ReadDir lists a directory, sorted by name.
func (f *FS) ReadDir(name string) ([]fs.DirEntry, error) {
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	d, ok := file.(fs.ReadDirFile)
	if !ok {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: errors.New("not a directory")}
	}
	list, err := d.ReadDir(-1)
	sortEntries(list)
	return list, err
}

// OpenFile opens the regular file p (absolute or relative, on the
// filesystem at dir) for reading, as Open does.
func OpenFile(dir, p string) (*os.File, error) {
	f := Dir(dir)
	defer f.Close()
	name := clean(p)
	file, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	st, _ := file.Stat()
	if st.IsDir() {
		file.Close()
		return nil, &fs.PathError{Op: "open", Path: name, Err: fmt.Errorf("%w (a directory)", ErrNotRegular)}
	}
	return file.(*os.File), nil
}

func clean(p string) string {
	p = strings.TrimPrefix(path.Clean("/"+p), "/")
	if p == "" {
		return "."
	}
	return p
}

// Kind names what a non-regular file is, for messages: "a FIFO".
func Kind(m fs.FileMode) string { return typeName(m) }

// Lexists says whether p names anything on fsys, a dangling symlink or
// one that leaves the filesystem included (an fs.FS with an Lstat method,
// as FS has; else whatever fs.Stat finds).
func Lexists(fsys fs.FS, p string) bool {
	if l, ok := fsys.(interface {
		Lstat(string) (fs.FileInfo, error)
	}); ok {
		_, err := l.Lstat(p)
		return err == nil
	}
	_, err := fs.Stat(fsys, p)
	return err == nil
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m&fs.ModeSymlink != 0:
		return "a symlink"
	case m.IsDir():
		return "a directory"
	}
	return "not a file (" + m.Type().String() + ")"
}

func sortEntries(list []fs.DirEntry) {
	sort.Slice(list, func(i, j int) bool { return list[i].Name() < list[j].Name() })
}
