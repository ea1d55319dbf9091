// Package efivar reads and writes UEFI variables through efivarfs: the
// boot manager's BootCurrent, BootNext, BootOrder and Boot#### load
// options, and the UTF-16 strings of systemd's Boot Loader Interface
// (LoaderEntryOneShot, LoaderEntryDefault, ...). Register puts a boot
// entry first in BootOrder; PartitionOf reads the GPT to build the Hard
// Drive device path node such an entry needs.
//
// Every variable lives under Vars.Dir, /sys/firmware/efi/efivars unless
// set, so the tests point it at a temporary directory and need neither
// root nor firmware. An efivarfs file is the variable's 4-byte
// little-endian attributes followed by its data, and is replaced by one
// write(2) of both.
//
// # Why not u-root's packages
//
// u-root v0.16.0 has two. pkg/efivarfs does the file format right (one
// write, clearing the immutable flag), but its only constructors statfs
// the directory for efivarfs' magic number and its path field is
// unexported, so nothing built on it can be tested on a temporary
// directory; it reads a variable with io.ReadAll, without bound; and its
// errors are bare os.ErrNotExist and os.ErrPermission, which name neither
// the variable nor the fix. pkg/uefivars/boot parses load options and
// device paths, but only parses (no encoder, so no Register and no round
// trip), reads from package-level directory variables, and imports a
// resolver that mounts file systems. What we need of either is a few
// hundred lines, so we own them here, with fuzzed parsers and errors
// that say what to do. The one syscall of our own, clearing the
// immutable flag, is in boot/internal/sys like every other.
//
// Real-world Boot#### variables in testdata/ come from u-root's
// pkg/uefivars/testdata/sys_fw_efivarfs.zip (BSD-3-Clause), a dump of a
// QEMU/OVMF machine's efivarfs.
package efivar
