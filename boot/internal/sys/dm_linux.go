//go:build linux

package sys

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// DMCreateReadOnly creates the device-mapper device name (with uuid),
// loads targets as its read-only table and resumes it, as "dmsetup create
// --readonly" does. It returns the device's "major:minor".
func DMCreateReadOnly(name, uuid string, targets []DMTarget) (string, error) {
	ctl, err := os.OpenFile("/dev/mapper/control", os.O_RDWR, 0)
	if err != nil {
		return "", fmt.Errorf("opening the device-mapper control device (is dm_mod in the image?): %w", err)
	}
	defer ctl.Close()
	if len(name) >= 128 || len(uuid) >= 129 {
		return "", fmt.Errorf("device-mapper name %q or uuid %q too long", name, uuid)
	}
	hdr := func(size int, flags uint32) []byte {
		b := make([]byte, max(size, unix.SizeofDmIoctl))
		h := (*unix.DmIoctl)(unsafe.Pointer(&b[0]))
		h.Version = [3]uint32{4, 0, 0}
		h.Data_size = uint32(len(b))
		h.Data_start = unix.SizeofDmIoctl
		h.Flags = flags
		copy(h.Name[:], name)
		return b
	}
	call := func(req uint, b []byte, what string) (*unix.DmIoctl, error) {
		_, _, errno := unix.Syscall(unix.SYS_IOCTL, ctl.Fd(), uintptr(req), uintptr(unsafe.Pointer(&b[0])))
		if errno != 0 {
			return nil, &CallError{Call: fmt.Sprintf("ioctl(/dev/mapper/control, %s, %q)", what, name), Err: errno}
		}
		return (*unix.DmIoctl)(unsafe.Pointer(&b[0])), nil
	}
	c := hdr(0, unix.DM_READONLY_FLAG)
	copy((*unix.DmIoctl)(unsafe.Pointer(&c[0])).Uuid[:], uuid)
	h, err := call(unix.DM_DEV_CREATE, c, "DM_DEV_CREATE")
	if err != nil {
		return "", err
	}
	dev := h.Dev
	remove := func() {
		b := hdr(0, 0)
		call(unix.DM_DEV_REMOVE, b, "DM_DEV_REMOVE")
	}
	// The table: a target spec and its NUL-ended parameters, each padded
	// to 8 bytes, Next giving the distance to the following one.
	var specs []byte
	for _, t := range targets {
		n := (unix.SizeofDmTargetSpec + len(t.Params) + 1 + 7) &^ 7
		s := make([]byte, n)
		sp := (*unix.DmTargetSpec)(unsafe.Pointer(&s[0]))
		sp.Sector_start, sp.Length, sp.Next = t.Start, t.Length, uint32(n)
		copy(sp.Target_type[:], t.Type)
		copy(s[unix.SizeofDmTargetSpec:], t.Params)
		specs = append(specs, s...)
	}
	load := hdr(unix.SizeofDmIoctl+len(specs), unix.DM_READONLY_FLAG)
	(*unix.DmIoctl)(unsafe.Pointer(&load[0])).Target_count = uint32(len(targets))
	copy(load[unix.SizeofDmIoctl:], specs)
	if _, err := call(unix.DM_TABLE_LOAD, load, "DM_TABLE_LOAD"); err != nil {
		remove()
		return "", err
	}
	if _, err := call(unix.DM_DEV_SUSPEND, hdr(0, 0), "DM_DEV_SUSPEND (resume)"); err != nil {
		remove()
		return "", err
	}
	return fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev)), nil
}
