package kexec

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Syscalls is the machine side of loading: one method per system call
// path. Real is the implementation; tests use a recording fake.
type Syscalls interface {
	// FileLoad is kexec_file_load(2). initrd may be nil.
	FileLoad(kernel, initrd *os.File, cmdline string) error
	// Load is kexec_load(2), with the image parsed in user space.
	Load(kernel, initrd *os.File, cmdline string) error
}

// Method says which system call loaded an image.
type Method string

const (
	FileLoad Method = "kexec_file_load"
	Load     Method = "kexec_load"
)

// ErrFallbackFailed wraps a kexec_load failure after kexec_file_load refused.
var ErrFallbackFailed = errors.New("kexec_load fallback failed")

// Loader loads staged images.
type Loader struct {
	Sys Syscalls
	Log *slog.Logger
}

// Load loads im for kexec. It tries kexec_file_load and falls back to
// kexec_load only when the kernel lacks the call or cannot parse the image
// format; a refusal for policy reasons (signature, lockdown) is returned as
// is, since kexec_load would be refused too or would bypass the policy.
func (l Loader) Load(im *Image) (Method, error) {
	if !im.sealed {
		return "", errors.New("loading an image that is not sealed (call Image.Seal first)")
	}
	err := l.Sys.FileLoad(im.Kernel, im.Initrd, im.Cmdline)
	if err == nil {
		return FileLoad, nil
	}
	if !errors.Is(err, sys.ENOSYS) && !errors.Is(err, sys.ENOEXEC) {
		return "", fmt.Errorf("loading %s: %w", im.Entry.Kernel, Explain(err))
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Warn("kexec_file_load refused the kernel; falling back to kexec_load", "kernel", im.Entry.Kernel, "err", err)
	if err2 := l.Sys.Load(im.Kernel, im.Initrd, im.Cmdline); err2 != nil {
		return "", fmt.Errorf("loading %s: kexec_file_load: %v; %w: %w", im.Entry.Kernel, err, ErrFallbackFailed, err2)
	}
	return Load, nil
}

// Explain adds a plain-words cause to kexec errors whose errno alone
// misleads.
func Explain(err error) error {
	switch {
	case errors.Is(err, sys.EKEYREJECTED), errors.Is(err, sys.EBADMSG), errors.Is(err, sys.ENOKEY):
		return fmt.Errorf("%w (the running kernel requires a signed kernel for kexec, and this kernel's signature was not accepted)", err)
	case errors.Is(err, sys.EPERM):
		return fmt.Errorf("%w (kexec is not permitted: not root, kernel.kexec_load_disabled=1, or kernel lockdown)", err)
	case errors.Is(err, sys.EBUSY):
		return fmt.Errorf("%w (another kexec image is already loaded or being loaded)", err)
	case errors.Is(err, sys.ENOMEM):
		return fmt.Errorf("%w (not enough contiguous memory for the kernel and initramfs)", err)
	}
	return err
}
