//go:build linux

package kexec

import (
	"os"

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
