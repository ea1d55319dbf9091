// Package kexec stages a boot entry's kernel and initramfs in memory and
// loads them for kexec.
//
// Staging reads each file exactly once into a sealed memfd; the load hands
// those same file descriptors to the kernel, so what was read (and, with
// verification, checked) is what boots: no path is opened twice. The
// kernel's bzImage header is checked before loading, so a truncated or
// foreign file is refused with a message that names it rather than failing
// deep inside the kexec syscall.
//
// Loading tries kexec_file_load(2) first: the kernel parses the image and,
// where the running kernel requires it, checks its signature. Only when the
// kernel does not support that call or that image format (ENOSYS, ENOEXEC)
// do we fall back to kexec_load(2) through u-root's bzImage loader and
// purgatory, and say so.
package kexec
