package efivar

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

var (
	// ErrMalformed is a variable, load option, device path or GPT whose
	// bytes do not parse; errors wrapping it say where.
	ErrMalformed = errors.New("malformed")
	// ErrTooLarge is a variable larger than MaxSize.
	ErrTooLarge = errors.New("too large")
)

// VarError is a failed read, write or removal of one variable. It names
// the variable, its file and, where the errno says it, the fix.
type VarError struct {
	Op   string // "reading", "writing", "removing"
	Name string
	GUID GUID
	Dir  string // the efivarfs directory
	Err  error
}

// Path is the variable's file.
func (e *VarError) Path() string { return filepath.Join(e.Dir, e.Name+"-"+e.GUID.String()) }

func (e *VarError) Error() string {
	s := fmt.Sprintf("%s EFI variable %s: %v", e.Op, e.Path(), e.Err)
	if fix := e.fix(); fix != "" {
		s += "; " + fix
	}
	return s
}

func (e *VarError) Unwrap() error { return e.Err }

func (e *VarError) fix() string {
	dir := e.Dir
	switch {
	case errors.Is(e.Err, errNoDir):
		return "boot in UEFI mode, or mount efivarfs: mount -t efivarfs efivarfs " + dir
	case errors.Is(e.Err, sys.EROFS):
		return "is " + dir + " read-only? mount -o remount,rw " + dir
	case errors.Is(e.Err, sys.EPERM), errors.Is(e.Err, sys.EACCES), errors.Is(e.Err, fs.ErrPermission):
		if e.Op == "reading" {
			return "run as root"
		}
		return "run as root; is the variable immutable (lsattr " + e.Path() + ")?"
	case errors.Is(e.Err, sys.ENOSPC):
		return "the firmware's variable store is full: remove unused Boot#### entries (efibootmgr -b XXXX -B)"
	case errors.Is(e.Err, sys.EINVAL) && e.Op == "writing":
		return "the firmware refused the attributes or the data"
	}
	return ""
}

// errNoDir is a variable directory that does not exist.
var errNoDir = fmt.Errorf("no variable directory: %w", fs.ErrNotExist)
