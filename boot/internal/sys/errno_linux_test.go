package sys

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The errnos and flags sys.go spells out are Linux's.
func TestLinuxNumbers(t *testing.T) {
	for _, c := range []struct {
		ours, unix any
	}{
		{EPERM, unix.EPERM}, {ENOENT, unix.ENOENT}, {ENOEXEC, unix.ENOEXEC}, {ENOMEM, unix.ENOMEM},
		{EBUSY, unix.EBUSY}, {EEXIST, unix.EEXIST}, {ENODEV, unix.ENODEV}, {EINVAL, unix.EINVAL}, {EFBIG, unix.EFBIG},
		{ENOSYS, unix.ENOSYS}, {EBADMSG, unix.EBADMSG}, {ENOKEY, unix.ENOKEY}, {EKEYREJECTED, unix.EKEYREJECTED},
		{EACCES, unix.EACCES}, {ENOTTY, unix.ENOTTY}, {ENOSPC, unix.ENOSPC}, {EROFS, unix.EROFS},
		{EOPNOTSUPP, unix.EOPNOTSUPP}, {FS_IMMUTABLE_FL, int(unix.STATX_ATTR_IMMUTABLE)}, // x/sys has no FS_IMMUTABLE_FL; statx(2) keeps the FS_*_FL values,
		{MS_RDONLY, uintptr(unix.MS_RDONLY)}, {MS_NOSUID, uintptr(unix.MS_NOSUID)}, {MS_NODEV, uintptr(unix.MS_NODEV)},
		{MS_NOEXEC, uintptr(unix.MS_NOEXEC)}, {MS_REMOUNT, uintptr(unix.MS_REMOUNT)}, {MNT_DETACH, unix.MNT_DETACH},
	} {
		if c.ours != c.unix {
			t.Errorf("%v (%T) != x/sys/unix's %v (%T)", c.ours, c.ours, c.unix, c.unix)
		}
	}
}
