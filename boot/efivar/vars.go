package efivar

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// DefaultDir is where Linux mounts efivarfs.
const DefaultDir = "/sys/firmware/efi/efivars"

// Variable attributes (UEFI 2.10, 8.2 GetVariable()).
const (
	NonVolatile    uint32 = 0x1 // EFI_VARIABLE_NON_VOLATILE
	BootService    uint32 = 0x2 // EFI_VARIABLE_BOOTSERVICE_ACCESS
	Runtime        uint32 = 0x4 // EFI_VARIABLE_RUNTIME_ACCESS
	AttrPersistent        = NonVolatile | BootService | Runtime
	// AttrVolatile is what a boot loader gives variables that live for
	// one boot (systemd-boot's LoaderEntrySelected, LoaderInfo).
	AttrVolatile = BootService | Runtime
)

// MaxSize bounds the data Read returns. Firmware variable stores are tens
// to hundreds of KiB in all; no variable this package reads is near it.
const MaxSize = 64 << 10

// Vars is the UEFI variables under Dir (DefaultDir if empty).
type Vars struct {
	Dir string
}

func (v Vars) dir() string {
	if v.Dir == "" {
		return DefaultDir
	}
	return v.Dir
}

func (v Vars) path(name string, guid GUID) string {
	return filepath.Join(v.dir(), name+"-"+guid.String())
}

func (v Vars) err(op, name string, guid GUID, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(v.dir()); errors.Is(serr, fs.ErrNotExist) {
			err = errNoDir
		}
	}
	return &VarError{Op: op, Name: name, GUID: guid, Dir: v.dir(), Err: err}
}

// Available returns nil if the variables can be read: Dir is a mounted
// efivarfs, or any other directory that holds files (a test's, or a copy
// of a machine's variables). Otherwise it says what to do.
func (v Vars) Available() error {
	dir := v.dir()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no %s: boot in UEFI mode, or mount efivarfs: mount -t efivarfs efivarfs %s: %w", dir, dir, err)
	}
	if err != nil {
		return fmt.Errorf("reading EFI variables: %w", err)
	}
	if ok, _ := sys.IsEfivarfs(dir); ok || len(ents) > 0 {
		return nil
	}
	return fmt.Errorf("%s is empty and not efivarfs: mount -t efivarfs efivarfs %s: %w", dir, dir, fs.ErrNotExist)
}

// Read returns a variable's attributes and data. A variable that does not
// exist is an error that errors.Is fs.ErrNotExist.
func (v Vars) Read(name string, guid GUID) (attrs uint32, data []byte, err error) {
	f, err := os.Open(v.path(name, guid))
	if err != nil {
		return 0, nil, v.err("reading", name, guid, unwrapPath(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4+MaxSize+1))
	switch {
	case err != nil:
		return 0, nil, v.err("reading", name, guid, unwrapPath(err))
	case len(b) == 0:
		// efivarfs shows a variable removed behind its back as an empty file.
		return 0, nil, v.err("reading", name, guid, fs.ErrNotExist)
	case len(b) < 4:
		return 0, nil, v.err("reading", name, guid, fmt.Errorf("%d bytes, shorter than the 4-byte attributes: %w", len(b), ErrMalformed))
	case len(b) > 4+MaxSize:
		return 0, nil, v.err("reading", name, guid, fmt.Errorf("more than %d bytes: %w", MaxSize, ErrTooLarge))
	}
	return binary.LittleEndian.Uint32(b), b[4:], nil
}

// Write sets a variable with one write(2) of attrs and data, as efivarfs
// requires, first clearing the immutable flag efivarfs puts on some
// existing variables (and setting it again after).
func (v Vars) Write(name string, guid GUID, attrs uint32, data []byte) error {
	if len(data) > MaxSize {
		return v.err("writing", name, guid, fmt.Errorf("%d bytes, more than %d: %w", len(data), MaxSize, ErrTooLarge))
	}
	p := v.path(name, guid)
	restore, err := mutable(p)
	if err != nil {
		return v.err("writing", name, guid, err)
	}
	defer restore()
	// No O_TRUNC: efivarfs replaces the whole variable on each write,
	// as systemd and efibootmgr rely on.
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return v.err("writing", name, guid, unwrapPath(err))
	}
	buf := binary.LittleEndian.AppendUint32(make([]byte, 0, 4+len(data)), attrs)
	buf = append(buf, data...)
	n, err := f.Write(buf)
	if err == nil && n != len(buf) {
		err = io.ErrShortWrite
	}
	if err == nil {
		// efivarfs sizes the file to what was written; on any other file
		// system (tests, a copy) cut what a longer old value left.
		if fi, serr := f.Stat(); serr == nil && fi.Size() > int64(n) {
			err = f.Truncate(int64(n))
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return v.err("writing", name, guid, unwrapPath(err))
	}
	return nil
}

// Delete removes a variable. Removing one that does not exist is an error
// that errors.Is fs.ErrNotExist.
func (v Vars) Delete(name string, guid GUID) error {
	p := v.path(name, guid)
	if _, err := mutable(p); err != nil {
		return v.err("removing", name, guid, err)
	}
	if err := os.Remove(p); err != nil {
		return v.err("removing", name, guid, unwrapPath(err))
	}
	return nil
}

// mutable clears the immutable flag of the variable file p, if it exists
// and has it, and returns a function that sets it again. A file system
// without inode flags (a test's tmpfs) is not an error.
func mutable(p string) (restore func(), err error) {
	nop := func() {}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nop, nil
	}
	if err != nil {
		return nop, unwrapPath(err)
	}
	flags, err := sys.InodeFlags(f)
	if err != nil || flags&sys.FS_IMMUTABLE_FL == 0 {
		f.Close()
		if noFlags(err) {
			err = nil
		}
		return nop, err
	}
	if err := sys.SetInodeFlags(f, flags&^sys.FS_IMMUTABLE_FL); err != nil {
		f.Close()
		return nop, err
	}
	return func() {
		// Best effort: efivarfs sets the flag again on the next boot.
		_ = sys.SetInodeFlags(f, flags)
		f.Close()
	}, nil
}

// noFlags is an inode-flags ioctl failing because the file system has
// none.
func noFlags(err error) bool {
	return errors.Is(err, sys.ENOTTY) || errors.Is(err, sys.EOPNOTSUPP) ||
		errors.Is(err, sys.EINVAL) || errors.Is(err, errors.ErrUnsupported)
}

// unwrapPath drops the *fs.PathError around err: VarError names the file.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readUint16s reads a variable that is an array of little-endian uint16
// (BootOrder) or one of them (BootCurrent, BootNext).
func (v Vars) readUint16s(name string) ([]uint16, error) {
	_, data, err := v.Read(name, Global)
	if err != nil {
		return nil, err
	}
	if len(data)%2 != 0 {
		return nil, v.err("reading", name, Global, fmt.Errorf("%d bytes, not an array of uint16: %w", len(data), ErrMalformed))
	}
	out := make([]uint16, len(data)/2)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(data[2*i:])
	}
	return out, nil
}

func uint16sBytes(ns []uint16) []byte {
	b := make([]byte, 0, 2*len(ns))
	for _, n := range ns {
		b = binary.LittleEndian.AppendUint16(b, n)
	}
	return b
}
