package kexec

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/sys"
)

// MaxKernel and MaxInitrd bound what is read into memory.
const (
	MaxKernel = 256 << 20
	MaxInitrd = 1 << 30
)

// Image is an entry's kernel and initramfs, staged in sealed memfds.
type Image struct {
	Entry   entry.Entry
	Kernel  *os.File
	Initrd  *os.File // nil if the entry has no initrd
	Cmdline string
	// Bytes read, for the timeline.
	KernelSize, InitrdSize int64
}

// Close releases the memfds.
func (im *Image) Close() error {
	err := im.Kernel.Close()
	if im.Initrd != nil {
		err = errors.Join(err, im.Initrd.Close())
	}
	return err
}

// FileError is a problem with one file an entry names.
type FileError struct {
	Entry entry.Entry
	Role  string // "kernel" or "initrd"
	Path  string // as the entry names it
	Err   error
}

func (e *FileError) Error() string {
	where := e.Path
	if e.Entry.Source.Device != "" {
		where = e.Entry.Source.Device + ":" + e.Path
	}
	fix := "restore the file or fix the entry in " + e.Entry.Source.String()
	return fmt.Sprintf("%s %s: %v; %s", e.Role, where, e.Err, fix)
}

func (e *FileError) Unwrap() error { return e.Err }

// Stage reads e's kernel and initrds (resolved under e.Root) into sealed
// memfds, checking the kernel's header. cmdline replaces e.Cmdline when the
// user edited it.
func Stage(e entry.Entry, cmdline string) (*Image, error) {
	im := &Image{Entry: e, Cmdline: cmdline}
	k, n, err := readInto("kernel", e, e.Kernel, nil, MaxKernel)
	if err != nil {
		return nil, err
	}
	im.Kernel, im.KernelSize = k, n
	hdr := make([]byte, hdrEnd)
	m, _ := k.ReadAt(hdr, 0)
	if err := CheckBzImage(hdr[:m], n); err != nil {
		k.Close()
		return nil, &FileError{Entry: e, Role: "kernel", Path: e.Kernel, Err: err}
	}
	if len(e.Initrds) > 0 {
		for _, p := range e.Initrds {
			f, n, err := readInto("initrd", e, p, im.Initrd, MaxInitrd-im.InitrdSize)
			if err != nil {
				im.Close()
				return nil, err
			}
			im.Initrd = f
			im.InitrdSize += n
			// Pad to 4 bytes: the kernel's initramfs unpacker skips NULs
			// between concatenated archives.
			if pad := (4 - n%4) % 4; pad > 0 {
				if _, err := f.Write(make([]byte, pad)); err != nil {
					im.Close()
					return nil, fmt.Errorf("staging initrd: %w", err)
				}
				im.InitrdSize += pad
			}
		}
		if err := sys.Seal(im.Initrd); err != nil {
			im.Close()
			return nil, err
		}
	}
	return im, nil
}

// readInto appends the file at p (under e.Root) to dst, or to a new sealed
// memfd when dst is nil, refusing more than limit bytes.
func readInto(role string, e entry.Entry, p string, dst *os.File, limit int64) (*os.File, int64, error) {
	ferr := func(err error) error { return &FileError{Entry: e, Role: role, Path: p, Err: err} }
	src, err := os.Open(filepath.Join(e.Root, p))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, 0, ferr(errors.New("file does not exist"))
		}
		return nil, 0, ferr(err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return nil, 0, ferr(err)
	}
	if !st.Mode().IsRegular() {
		return nil, 0, ferr(fmt.Errorf("not a regular file (%s)", st.Mode().Type()))
	}
	fresh := dst == nil
	if fresh {
		if dst, err = sys.MemfdCreate(role); err != nil {
			return nil, 0, err
		}
	}
	n, err := io.Copy(dst, io.LimitReader(src, limit+1))
	switch {
	case err != nil:
		err = ferr(fmt.Errorf("reading: %w", err))
	case n > limit:
		err = ferr(fmt.Errorf("larger than %d MiB", limit>>20))
	case n == 0:
		err = ferr(errors.New("file is empty"))
	}
	if err == nil && fresh && role == "kernel" {
		err = sys.Seal(dst)
	}
	if err != nil {
		if fresh {
			dst.Close()
		}
		return nil, 0, err
	}
	return dst, n, nil
}
