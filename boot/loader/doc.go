// Package loader is the bootloader's decision: it finds the disks and
// their boot configs (waiting for md arrays, LVM volumes and USB storage
// to settle), reads what systemd's Boot Loader Interface asks of the boot
// loader (bootctl set-default and set-oneshot: bli.go), resolves the boot
// state's fallback chain (package trial), shows the menu, prepares the
// chosen entry through the pipeline (package prepare), falls through to
// the next entry in menu order when one cannot be booted, and commits the
// boot of the one that loaded.
//
// Committing a boot (Committer) is everything that must happen before a
// kexec into an entry, in one place and one order, for every path that
// kexecs: the bootloader, and warmswap -direct on a running system. It is
// decided first, without touching anything (Decide: whether the boot is a
// trial, what its command line gets, the record the booted system is
// handed), so that the command line is checked, measured and loaded as it
// will boot; and carried out last, once the image is loaded (Commit): the
// state written, the BLS counter renamed, GRUB's environment saved, and
// the watchdog armed last, only for a boot that something on disk records.
//
// Nothing here kexecs: Loader.Pass returns the last step as a value
// (package machine), and the command's main takes it. Every side effect
// on the machine goes through an injected seam (Disks, Committer's Files
// and Arm, prepare.Pipeline's Loader), so the loop runs under test.
package loader
