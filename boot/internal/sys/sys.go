// Package sys is the one place warmboot calls golang.org/x/sys/unix. Every
// call that changes the machine (kexec, reboot, module loading, mounting)
// goes through here and fails with a *CallError that prints like the call
// and unwraps to the errno, so callers can test errors.Is(err, sys.EPERM)
// and users see exactly what the kernel refused.
//
// The API has no x/sys/unix types: errnos are syscall.Errno, with Linux's
// numbers, and flags are plain integers. On other systems (sys_other.go)
// every call fails with ErrUnsupported, so the packages above build and
// their parsers' tests run on a laptop.
package sys

import (
	"errors"
	"os"
	"strings"
	"syscall"
)

// Errnos callers match on, with Linux's numbers (errno_linux_test.go
// checks them against x/sys/unix).
const (
	EPERM        = syscall.Errno(0x1)
	ENOENT       = syscall.Errno(0x2)
	ENOEXEC      = syscall.Errno(0x8)
	ENOMEM       = syscall.Errno(0xc)
	EACCES       = syscall.Errno(0xd)
	EBUSY        = syscall.Errno(0x10)
	EEXIST       = syscall.Errno(0x11)
	ENODEV       = syscall.Errno(0x13)
	EINVAL       = syscall.Errno(0x16)
	ENOTTY       = syscall.Errno(0x19)
	EFBIG        = syscall.Errno(0x1b)
	ENOSPC       = syscall.Errno(0x1c)
	EROFS        = syscall.Errno(0x1e)
	ENOSYS       = syscall.Errno(0x26)
	EBADMSG      = syscall.Errno(0x4a)
	EOPNOTSUPP   = syscall.Errno(0x5f)
	ENOKEY       = syscall.Errno(0x7e)
	EKEYREJECTED = syscall.Errno(0x81)
)

// Mount flags (mount(2), umount2(2)), Linux's values.
const (
	MS_RDONLY  uintptr = 0x1
	MS_NOSUID  uintptr = 0x2
	MS_NODEV   uintptr = 0x4
	MS_NOEXEC  uintptr = 0x8
	MS_REMOUNT uintptr = 0x20
	MNT_DETACH int     = 0x2
)

// FS_IMMUTABLE_FL is the inode flag (FS_IOC_GETFLAGS) efivarfs sets on
// variables whose removal could brick a machine; it must be cleared
// before such a variable is written or removed.
const FS_IMMUTABLE_FL = 0x10

// ErrUnsupported is every call on a system other than Linux.
var ErrUnsupported = errors.ErrUnsupported

// CallError is a failed system call.
type CallError struct {
	Call string // "kexec_file_load(kernel=3, initrd=4, flags=0x0)"
	Err  syscall.Errno
}

func (e *CallError) Error() string { return e.Call + " = " + e.Err.Error() }
func (e *CallError) Unwrap() error { return e.Err }

// DMTarget is one line of a device-mapper table: Length sectors from
// Start, mapped by Type ("linear") with Params ("8:2 2048").
type DMTarget struct {
	Start, Length uint64
	Type, Params  string
}

// KexecLoaded reports /sys/kernel/kexec_loaded.
func KexecLoaded() bool {
	b, err := os.ReadFile("/sys/kernel/kexec_loaded")
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// DMName is the kernel's name for the dm device major:minor ("dm-0").
func DMName(sysfs, majmin string) string {
	p, err := os.Readlink(sysfs + "/dev/block/" + majmin)
	if err != nil {
		return ""
	}
	return p[strings.LastIndexByte(p, '/')+1:]
}
