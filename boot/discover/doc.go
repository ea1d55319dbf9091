// Package discover finds boot configs: Scan looks for BLS, GRUB and
// syslinux configs on one filesystem (any fs.FS, so it runs against a
// directory as well as a mounted disk), and MountAll mounts every block
// device read-only so Scan can look at it.
//
// Devices are enumerated and mounted with u-root's pkg/mount/block, which
// detects the filesystem type from its superblock.
package discover
