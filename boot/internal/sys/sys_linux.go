//go:build linux

package sys

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// KexecFileLoad loads a kernel and initramfs for a later Reboot(Kexec).
// initrd < 0 means none.
func KexecFileLoad(kernel, initrd int, cmdline string) error {
	flags := 0
	if initrd < 0 {
		initrd = 0
		flags |= unix.KEXEC_FILE_NO_INITRAMFS
	}
	err := unix.KexecFileLoad(kernel, initrd, cmdline, flags)
	return callErr(err, "kexec_file_load(kernel=%d, initrd=%d, flags=%#x)", kernel, initrd, flags)
}

// KexecUnload drops a loaded kexec image.
func KexecUnload() error {
	err := unix.KexecFileLoad(-1, -1, "", unix.KEXEC_FILE_UNLOAD)
	return callErr(err, "kexec_file_load(flags=KEXEC_FILE_UNLOAD)")
}

// RebootKexec jumps into the loaded kexec image. It returns only on error.
func RebootKexec() error {
	return callErr(unix.Reboot(unix.LINUX_REBOOT_CMD_KEXEC), "reboot(LINUX_REBOOT_CMD_KEXEC)")
}

// PowerOff powers the machine off. It returns only on error.
func PowerOff() error {
	return callErr(unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF), "reboot(LINUX_REBOOT_CMD_POWER_OFF)")
}

// MemfdCreate makes an anonymous memory-backed file.
func MemfdCreate(name string) (*os.File, error) {
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, callErr(err, "memfd_create(%q)", name)
	}
	return os.NewFile(uintptr(fd), "memfd:"+name), nil
}

// Seal forbids any further change to a memfd's contents or size, so the
// bytes handed to kexec are the bytes that were read (and, later, checked).
func Seal(f *os.File) error {
	_, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, unix.F_SEAL_SEAL|unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_WRITE)
	return callErr(err, "fcntl(%s, F_ADD_SEALS)", f.Name())
}

// FinitModule loads a kernel module from an open file.
func FinitModule(f *os.File, params string) error {
	return callErr(unix.FinitModule(int(f.Fd()), params, 0), "finit_module(%s)", f.Name())
}

// Mount mounts a filesystem.
func Mount(source, target, fstype string, flags uintptr, data string) error {
	return callErr(unix.Mount(source, target, fstype, flags, data), "mount(%s, %s, %s, %#x)", source, target, fstype, flags)
}

// Unmount unmounts a filesystem.
func Unmount(target string, flags int) error {
	return callErr(unix.Unmount(target, flags), "umount2(%s, %#x)", target, flags)
}

// OpenDevice opens a character device for reading and writing in
// blocking mode. os.OpenFile puts a device it can poll in non-blocking
// mode for Go's poller, and a TPM (/dev/tpm0, /dev/tpmrm0) in
// non-blocking mode runs each command written in the background and
// answers a read before the response is ready with 0 bytes: "reading
// response: EOF" whenever the TPM is slower than the reader
// (drivers/char/tpm/tpm-dev-common.c). Blocking, a write returns once
// the TPM has answered. Errors are *fs.PathError, as os.OpenFile's.
func OpenDevice(path string) (*os.File, error) {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: path, Err: err}
	}
	// NewFile leaves a blocking descriptor out of the poller.
	return os.NewFile(uintptr(fd), path), nil
}

// RandomReady says whether the kernel's random number generator is
// seeded: getrandom(2) with GRND_NONBLOCK, which fails with EAGAIN until
// it is (and a plain getrandom, Go's crypto/rand, blocks).
func RandomReady() (bool, error) {
	var b [1]byte
	_, err := unix.Getrandom(b[:], unix.GRND_NONBLOCK)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, unix.EAGAIN):
		return false, nil
	}
	return false, callErr(err, "getrandom(GRND_NONBLOCK)")
}

// Release returns the running kernel's release ("uname -r").
func Release() (string, error) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "", callErr(err, "uname")
	}
	return unix.ByteSliceToString(u.Release[:]), nil
}

// RawTerminal puts a terminal in raw mode (no line buffering, no echo) so
// a single key press stops the menu countdown. It returns a function that
// restores the previous mode. Not a terminal is not an error: restore is
// then a no-op and ok is false.
func RawTerminal(f *os.File) (restore func(), ok bool) {
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}, false
	}
	raw := *old
	raw.Lflag &^= unix.ICANON | unix.ECHO
	raw.Iflag &^= unix.ICRNL
	raw.Cc[unix.VMIN] = 1
	raw.Cc[unix.VTIME] = 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		return func() {}, false
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }, true
}

// ReadTimeout waits up to timeout for f to be readable and reads into p.
// It returns 0, nil when nothing arrived in time. Polling the descriptor
// ourselves (rather than with read deadlines) works on every tty driver.
func ReadTimeout(f *os.File, p []byte, timeout time.Duration) (int, error) {
	fd := int(f.Fd())
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, int(timeout.Milliseconds()))
	if err != nil {
		if errors.Is(err, unix.EINTR) {
			return 0, nil
		}
		return 0, callErr(err, "poll(%s)", f.Name())
	}
	if n == 0 {
		return 0, nil
	}
	if fds[0].Revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) != 0 && fds[0].Revents&unix.POLLIN == 0 {
		return 0, fmt.Errorf("%s: hung up", f.Name())
	}
	m, err := unix.Read(fd, p)
	if err != nil {
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			return 0, nil
		}
		return 0, callErr(err, "read(%s)", f.Name())
	}
	if m == 0 {
		return 0, fmt.Errorf("%s: end of input", f.Name())
	}
	return m, nil
}

// Kill sends sig to pid.
func Kill(pid int, sig syscall.Signal) error {
	return callErr(unix.Kill(pid, sig), "kill(%d, %s)", pid, unix.SignalName(sig))
}

// Sync flushes every filesystem.
func Sync() { unix.Sync() }

// RemountReadOnly remounts the filesystem at dir read-only, keeping its
// other flags.
func RemountReadOnly(dir string) error {
	err := unix.Mount("", dir, "", unix.MS_REMOUNT|unix.MS_RDONLY, "")
	return callErr(err, "mount(%s, MS_REMOUNT|MS_RDONLY)", dir)
}

// Restart reboots through the firmware. It returns only on error.
func Restart() error {
	return callErr(unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART), "reboot(LINUX_REBOOT_CMD_RESTART)")
}

func callErr(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return fmt.Errorf(format+": %w", append(args, err)...)
	}
	return &CallError{Call: fmt.Sprintf(format, args...), Err: errno}
}

// WatchdogSetTimeout sets the timeout of the watchdog device f
// (WDIOC_SETTIMEOUT) and returns the one the driver took
// (WDIOC_GETTIMEOUT): drivers round to what their hardware can count.
func WatchdogSetTimeout(f *os.File, seconds int) (int, error) {
	fd := int(f.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.WDIOC_SETTIMEOUT, seconds); err != nil {
		return 0, callErr(err, "ioctl(%s, WDIOC_SETTIMEOUT, %d)", f.Name(), seconds)
	}
	got, err := unix.IoctlGetInt(fd, unix.WDIOC_GETTIMEOUT)
	return got, callErr(err, "ioctl(%s, WDIOC_GETTIMEOUT)", f.Name())
}

// WatchdogOptions returns the driver's WDIOF_* options (WDIOC_GETSUPPORT).
func WatchdogOptions(f *os.File) (uint32, error) {
	info, err := unix.IoctlGetWatchdogInfo(int(f.Fd()))
	if err != nil {
		return 0, callErr(err, "ioctl(%s, WDIOC_GETSUPPORT)", f.Name())
	}
	return info.Options, nil
}

// WatchdogKeepalive pings the watchdog device f (WDIOC_KEEPALIVE).
func WatchdogKeepalive(f *os.File) error {
	return callErr(unix.IoctlWatchdogKeepalive(int(f.Fd())), "ioctl(%s, WDIOC_KEEPALIVE)", f.Name())
}

// FileID names the version of a file fi describes: its device, inode,
// size, and modification and change times to the nanosecond. Writing the
// file, or replacing it, changes it (the change time cannot be set from
// user space), except within the same tick of the kernel's clock: changed
// is the change time, for the caller to allow for that. ok is false if fi
// has no stat.
func FileID(fi fs.FileInfo) (id string, changed time.Time, ok bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return "", time.Time{}, false
	}
	id = fmt.Sprintf("%d:%d:%d:%d.%09d:%d.%09d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	return id, time.Unix(st.Ctim.Sec, st.Ctim.Nsec), true
}

// InodeFlags returns f's inode flags (FS_IOC_GETFLAGS).
func InodeFlags(f *os.File) (int, error) {
	flags, err := unix.IoctlGetInt(int(f.Fd()), unix.FS_IOC_GETFLAGS)
	return flags, callErr(err, "ioctl(%s, FS_IOC_GETFLAGS)", f.Name())
}

// SetInodeFlags sets f's inode flags (FS_IOC_SETFLAGS).
func SetInodeFlags(f *os.File, flags int) error {
	err := unix.IoctlSetPointerInt(int(f.Fd()), unix.FS_IOC_SETFLAGS, flags)
	return callErr(err, "ioctl(%s, FS_IOC_SETFLAGS, %#x)", f.Name(), flags)
}

// IsEfivarfs reports whether dir is the root of a mounted efivarfs.
func IsEfivarfs(dir string) (bool, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false, callErr(err, "statfs(%s)", dir)
	}
	return uint32(st.Type) == uint32(unix.EFIVARFS_MAGIC), nil
}

// TryLockFile takes an exclusive flock(2) on fd if no other open file
// holds one: locked is false, with no error, when another does.
func TryLockFile(fd uintptr) (locked bool, err error) {
	for {
		err := unix.Flock(int(fd), unix.LOCK_EX|unix.LOCK_NB)
		switch err {
		case nil:
			return true, nil
		case unix.EWOULDBLOCK:
			return false, nil
		case unix.EINTR:
			continue
		}
		return false, callErr(err, "flock(%d, LOCK_EX|LOCK_NB)", fd)
	}
}
