//go:build linux

package kexec

import (
	"os"
	"path/filepath"

	"github.com/u-root/u-root/pkg/boot/linux"
	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Real performs the system calls.
type Real struct{}

// FileLoad implements Syscalls.
func (Real) FileLoad(kernel, initrd *os.File, cmdline string) error {
	ifd := -1
	if initrd != nil {
		ifd = int(initrd.Fd())
	}
	return sys.KexecFileLoad(int(kernel.Fd()), ifd, cmdline)
}

// Load implements Syscalls with u-root's bzImage loader and purgatory.
func (Real) Load(kernel, initrd *os.File, cmdline string) error {
	for _, f := range []*os.File{kernel, initrd} {
		if f != nil {
			if _, err := f.Seek(0, 0); err != nil {
				return err
			}
		}
	}
	return linux.KexecLoad(kernel, initrd, cmdline, nil, nil)
}

// Exec jumps into the loaded kernel. It returns only on failure.
func Exec() error { return sys.RebootKexec() }

// MountSecurityFS mounts securityfs at sys/kernel/security under root
// ("/" on a machine) if it is not there yet, so that ReadKernelState can
// see the lockdown mode.
func MountSecurityFS(root string) error {
	dir := filepath.Join(root, "sys/kernel/security")
	if _, err := os.Stat(filepath.Join(dir, "lockdown")); err == nil {
		return nil
	}
	return sys.Mount("securityfs", dir, "securityfs", 0, "")
}

// Unload drops the loaded kexec image (warmswap -dry-run loads to check
// that the kernel accepts an image, then unloads it).
func Unload() error { return sys.KexecUnload() }

// Loaded says whether a kexec image is loaded.
func Loaded() bool { return sys.KexecLoaded() }
