// Package vmtest holds warmboot's VM tests: each boots the warmboot image
// on the Debian kernel in QEMU (TCG) with a disk built for the case, and
// asserts what a user would see on the serial console: the menu, the
// messages, and the marker line the booted target prints.
//
// The environment contract (make vmtest sets all of it):
//
//	VMTEST_QEMU          QEMU command, e.g. "qemu-system-x86_64 -machine q35 -m 1G -nic none"
//	                     (no NIC but the network tests' own: without one the
//	                     bootloader does not wait for DHCP)
//	WARMBOOT_QEMU_ACCEL  the -accel option of VMTEST_QEMU, for the VMs that
//	                     build their own command (TestDebian's 2 GiB, 2 CPUs);
//	                     optional (the Makefile explains its tb-size)
//	WARMBOOT_QEMU_CPU    their -cpu model (default qemu64,+rdrand; benchmarks max)
//	VMTEST_KERNEL        the kernel the bootloader runs on, and the one it boots
//	WARMBOOT_IMAGE       the warmboot initramfs (out/warmboot.cpio.zst)
//	WARMBOOT_KERNEL_DIR  the extracted kernel package (for its release)
//	WARMBOOT_PEER        u-root's boot image, for TestBench only
//	WARMBOOT_BENCH_N     runs per side; TestBench runs only when it is set
//
// hugelgupf/vmtest silently skips when VMTEST_QEMU is unset; these tests
// instead fail when any of the above (but the benchmark's) is missing, so
// a CI run that did not boot a VM cannot pass.
package vmtest
