// Command target is the init of the tiny initramfs that the demo and test
// disks boot: it prints a marker line with the kernel command line, so a
// test can see which entry booted with which arguments, and powers off.
package main

import (
	"fmt"
	"os"
	"strings"
	"syscall"
)

// Marker starts the line the target prints.
const Marker = "WARMBOOT-TARGET-OK"

func main() {
	os.MkdirAll("/proc", 0o755)
	os.MkdirAll("/dev", 0o755)
	syscall.Mount("proc", "/proc", "proc", 0, "")
	syscall.Mount("devtmpfs", "/dev", "devtmpfs", 0, "")
	out := os.Stdout
	if f, err := os.OpenFile("/dev/console", os.O_WRONLY, 0); err == nil {
		out = f
	}
	cmdline, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		fmt.Fprintf(out, "target: reading /proc/cmdline: %v\n", err)
	}
	fmt.Fprintf(out, "%s cmdline=%s\n", Marker, strings.TrimSpace(string(cmdline)))
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}
