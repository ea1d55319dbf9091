package kexec

import (
	"errors"
	"fmt"
	stdlog "log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

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

// Loader loads staged images.
type Loader struct {
	Sys Syscalls
	Log *slog.Logger
	// Kernel is the running kernel's kexec policy, for explaining a
	// refusal; see ReadKernelState.
	Kernel KernelState
}

// KernelState is what the running kernel enforces about kexec.
type KernelState struct {
	// Lockdown is the active lockdown mode ("none", "integrity",
	// "confidentiality"), "" if unknown (securityfs not mounted).
	Lockdown string
	// LoadDisabled is kernel.kexec_load_disabled=1.
	LoadDisabled bool
}

// ReadKernelState reads the kexec policy under root ("/" on a machine):
// sys/kernel/security/lockdown and proc/sys/kernel/kexec_load_disabled.
func ReadKernelState(root string) KernelState {
	var k KernelState
	if b, err := os.ReadFile(filepath.Join(root, "sys/kernel/security/lockdown")); err == nil {
		// "none [integrity] confidentiality": the active one is bracketed.
		if i, j := strings.IndexByte(string(b), '['), strings.IndexByte(string(b), ']'); i >= 0 && j > i {
			k.Lockdown = string(b[i+1 : j])
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "proc/sys/kernel/kexec_load_disabled")); err == nil {
		k.LoadDisabled = strings.TrimSpace(string(b)) == "1"
	}
	return k
}

// Load loads im for kexec. It tries kexec_file_load and falls back to
// kexec_load only when the kernel lacks the call or cannot parse the image
// format; a refusal for policy reasons (signature, lockdown) is returned as
// is, since kexec_load would be refused too or would bypass the policy.
func (l Loader) Load(im *Image) (Method, error) {
	if !im.sealed {
		return "", errors.New("loading an image that is not sealed (call Image.Seal first)")
	}
	locked := l.Kernel.Lockdown != "" && l.Kernel.Lockdown != "none"
	if im.UKI != nil && locked && !im.UKI.KernelSigned {
		// kexec_file_load checks the kernel it is given, .linux, not
		// the image's signature: refused without asking.
		return "", fmt.Errorf("loading %s: %w: the running kernel is locked down (%s) and kexecs only a kernel it can verify, and the kernel inside this unified kernel image (.linux) is unsigned; build the image with a signed kernel (ukify build --sign-kernel --secureboot-private-key KEY --secureboot-certificate CERT, or sbsign the kernel before wrapping it) with a key the running kernel trusts",
			im.Entry.At(im.Entry.Kernel), ErrUnsignedKernel, l.Kernel.Lockdown)
	}
	err := l.Sys.FileLoad(im.Kernel, im.Initrd, im.Cmdline)
	if err == nil {
		return FileLoad, nil
	}
	if !errors.Is(err, sys.ENOSYS) && !errors.Is(err, sys.ENOEXEC) {
		return "", fmt.Errorf("loading %s: %w", im.Entry.Kernel, Explain(err, l.Kernel))
	}
	log := l.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Warn("kexec_file_load refused the kernel; falling back to kexec_load", "kernel", im.Entry.Kernel, "err", err)
	if err2 := withStdLog(log, func() error { return l.Sys.Load(im.Kernel, im.Initrd, im.Cmdline) }); err2 != nil {
		return "", fmt.Errorf("loading %s: kexec_file_load: %v; %w: %w", im.Entry.Kernel, err, ErrFallbackFailed, err2)
	}
	return Load, nil
}

// Explain adds a plain-words cause to kexec errors whose errno alone
// misleads, using what the running kernel enforces.
func Explain(err error, k KernelState) error {
	locked := k.Lockdown != "" && k.Lockdown != "none"
	switch {
	case errors.Is(err, sys.EPERM) && k.LoadDisabled:
		return fmt.Errorf("%w (kexec is disabled on this kernel: kernel.kexec_load_disabled=1, which stays set until reboot)", err)
	case locked && (errors.Is(err, sys.EPERM) || errors.Is(err, sys.EKEYREJECTED) || errors.Is(err, sys.EBADMSG) || errors.Is(err, sys.ENOKEY)):
		return fmt.Errorf("%w (the running kernel is locked down (%s) and only kexecs kernels whose signature it can verify with a key in its keyrings: this kernel is unsigned or signed by another key; sign it (sbsign) with a key the kernel trusts, or boot the bootloader without lockdown)", err, k.Lockdown)
	case errors.Is(err, sys.EKEYREJECTED), errors.Is(err, sys.EBADMSG), errors.Is(err, sys.ENOKEY):
		return fmt.Errorf("%w (the running kernel requires a signed kernel for kexec (KEXEC_SIG_FORCE), and this kernel's signature was not accepted)", err)
	case errors.Is(err, sys.EPERM):
		return fmt.Errorf("%w (kexec is not permitted: not root, or CAP_SYS_BOOT missing)", err)
	case errors.Is(err, sys.EBUSY):
		return fmt.Errorf("%w (another kexec image is already loaded or being loaded)", err)
	case errors.Is(err, sys.ENOMEM):
		return fmt.Errorf("%w (not enough contiguous memory for the kernel and initramfs)", err)
	}
	return err
}

// withStdLog runs f with the standard logger, which u-root's kexec_load
// loader and purgatory print with (a whole ELF header among them), sent
// to log at debug level, so the console keeps one voice.
func withStdLog(log *slog.Logger, f func() error) error {
	w, flags, prefix := stdlog.Writer(), stdlog.Flags(), stdlog.Prefix()
	stdlog.SetOutput(debugWriter{log})
	stdlog.SetFlags(0)
	stdlog.SetPrefix("")
	defer func() {
		stdlog.SetOutput(w)
		stdlog.SetFlags(flags)
		stdlog.SetPrefix(prefix)
	}()
	return f()
}

type debugWriter struct{ log *slog.Logger }

func (d debugWriter) Write(p []byte) (int, error) {
	d.log.Debug("u-root: " + strings.TrimSpace(string(p)))
	return len(p), nil
}
