//go:build !linux

package sys

import (
	"io/fs"
	"os"
	"syscall"
	"time"
)

// Off Linux there is no kexec, memfd, module or device-mapper: every call
// fails with ErrUnsupported, so the packages above build, and their
// parsers' tests run, on any system.

func KexecFileLoad(kernel, initrd int, cmdline string) error { return ErrUnsupported }
func KexecUnload() error                                     { return ErrUnsupported }
func RebootKexec() error                                     { return ErrUnsupported }
func PowerOff() error                                        { return ErrUnsupported }
func MemfdCreate(name string) (*os.File, error)              { return nil, ErrUnsupported }
func Seal(f *os.File) error                                  { return ErrUnsupported }
func FinitModule(f *os.File, params string) error            { return ErrUnsupported }
func Mount(source, target, fstype string, flags uintptr, data string) error {
	return ErrUnsupported
}
func Unmount(target string, flags int) error { return ErrUnsupported }
func Release() (string, error)               { return "", ErrUnsupported }
func OpenDevice(path string) (*os.File, error) {
	return nil, &fs.PathError{Op: "open", Path: path, Err: ErrUnsupported}
}
func RandomReady() (bool, error)                       { return false, ErrUnsupported }
func RawTerminal(f *os.File) (restore func(), ok bool) { return func() {}, false }
func ReadTimeout(f *os.File, p []byte, timeout time.Duration) (int, error) {
	return 0, ErrUnsupported
}
func Kill(pid int, sig syscall.Signal) error { return ErrUnsupported }
func Sync()                                  {}
func RemountReadOnly(dir string) error       { return ErrUnsupported }
func Restart() error                         { return ErrUnsupported }
func DMCreateReadOnly(name, uuid string, targets []DMTarget) (string, error) {
	return "", ErrUnsupported
}
func WatchdogSetTimeout(f *os.File, seconds int) (int, error) { return 0, ErrUnsupported }
func WatchdogOptions(f *os.File) (uint32, error)              { return 0, ErrUnsupported }
func WatchdogKeepalive(f *os.File) error                      { return ErrUnsupported }
func InodeFlags(f *os.File) (int, error)                      { return 0, ErrUnsupported }
func SetInodeFlags(f *os.File, flags int) error               { return ErrUnsupported }
func IsEfivarfs(dir string) (bool, error)                     { return false, ErrUnsupported }

// FileID is not known off Linux: nothing is remembered by it.
func FileID(fi fs.FileInfo) (string, time.Time, bool) { return "", time.Time{}, false }

func TryLockFile(fd uintptr) (bool, error) { return false, ErrUnsupported }
