// Package shutdown stops a running Linux system the way an init system
// does at the end of a reboot, for warmswap on machines where systemd is
// not PID 1 (where it is, warmswap hands over to "systemctl kexec"):
//
//  1. every process except PID 1, the caller and kernel threads gets
//     SIGTERM; after a grace period the survivors get SIGKILL. Processes
//     whose argv[0] starts with '@' are spared, as systemd-shutdown spares
//     them: by that convention they are storage daemons a mounted
//     filesystem depends on (a FUSE or iSCSI root).
//  2. sync(2), then every filesystem that has a backing store is
//     unmounted, deepest mount point first, in rounds until no round makes
//     progress; what still cannot be unmounted (/, or a busy mount) is
//     remounted read-only, so its journal is clean and nothing is replayed
//     on the next mount. API filesystems (proc, sysfs, devtmpfs, cgroup,
//     tmpfs, ...) are left alone: they hold nothing that outlives a boot,
//     and /proc is needed to the end.
//  3. the executables of a teardown directory run, in name order, with a
//     time limit each (driver unbinds for devices that do not survive
//     kexec).
//
// We do not use u-root's pkg/mount or init here: u-root's init has no
// shutdown sequence, and its mount helpers unmount by path without the
// remount-read-only fallback that keeps / consistent.
//
// Everything that touches the machine goes through System, so the
// sequence is tested with a fake; Real is the implementation.
package shutdown
