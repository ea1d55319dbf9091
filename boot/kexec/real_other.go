//go:build !linux

package kexec

import (
	"os"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Real performs the system calls: on Linux only.
type Real struct{}

// FileLoad implements Syscalls.
func (Real) FileLoad(kernel, initrd *os.File, cmdline string) error { return sys.ErrUnsupported }

// Load implements Syscalls.
func (Real) Load(kernel, initrd *os.File, cmdline string) error { return sys.ErrUnsupported }
