// Package discover finds boot configs: Scan looks for BLS, GRUB and
// syslinux configs on one filesystem (any fs.FS, so it runs against a
// directory as well as a mounted disk), and MountAll mounts every block
// device read-only so Scan can look at it.
//
// Volumes are read together, as the loaders that boot them do: a GRUB
// config sees every volume (its search finds kernels and configs on the
// others), and BLS entries get GRUB's environment from the grubenv beside
// them, followed across filesystems the way the installed system's own
// /etc/fstab mounts them (see grubVars: RHEL 8 keeps it on the ESP).
//
// Devices are enumerated and mounted with u-root's pkg/mount/block, which
// detects the filesystem type from its superblock.
package discover
