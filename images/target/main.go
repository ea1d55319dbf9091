//go:build linux

// Command target is the init of the tiny initramfs that the demo and test
// disks boot: it prints a marker line with the kernel command line, so a
// test can see which entry booted with which arguments, and powers off.
// When warmboot handed it a TPM event log (/.warmboot/eventlog), it first
// replays the log and compares it with /sys/class/tpm/tpm0/pcr-sha256/N,
// printing WARMBOOT-TPM-OK or WARMBOOT-TPM-MISMATCH. With wbtest.hang on
// its command line it prints WARMBOOT-TARGET-HANG and hangs instead.
package main

import (
	"encoding/hex"
	"fmt"
	"os"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/eventlog"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/boot/tpm"
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
	os.MkdirAll("/sys", 0o755)
	syscall.Mount("sysfs", "/sys", "sysfs", 0, "")
	if line := checkEventLog(); line != "" {
		fmt.Fprintln(out, line)
	}
	if data, err := os.ReadFile(handoff.BootedFile); err == nil {
		b, err := handoff.ParseBooted(data)
		if err != nil {
			fmt.Fprintf(out, "WARMBOOT-TARGET-BOOTED bad record: %v\n", err)
		} else {
			fmt.Fprintf(out, "WARMBOOT-TARGET-BOOTED entry=%s by=%s\n", b.Entry, strings.ReplaceAll(b.By, " ", "_"))
		}
	}
	if strings.Contains(string(cmdline), "wbtest.hang") {
		// A kernel that comes up and never gets anywhere: nothing pings
		// the watchdog, nothing blesses the boot.
		fmt.Fprintln(out, "WARMBOOT-TARGET-HANG")
		for {
			time.Sleep(time.Hour) // not select{}: Go would call that a deadlock and exit
		}
	}
	if strings.Contains(string(cmdline), "wbtest.firmware") {
		fmt.Fprintln(out, firmware())
	}
	fmt.Fprintf(out, "%s cmdline=%s\n", Marker, strings.TrimSpace(string(cmdline)))
	syscall.Sync()
	syscall.Reboot(syscall.LINUX_REBOOT_CMD_POWER_OFF)
	select {}
}

// firmware says whether the kernel found ACPI and the EFI runtime
// services: after a kexec they must still be there. Listing efivarfs
// calls GetNextVariableName, a runtime service.
func firmware() string {
	_, err := os.Stat("/sys/firmware/efi")
	efi := err == nil
	dsdt, _ := os.ReadFile("/sys/firmware/acpi/tables/DSDT")
	vars := -1
	if efi {
		if r, err := modload.LoadSystem(); err == nil && len(r.Errors) == 0 {
			os.MkdirAll("/sys/firmware/efi/efivars", 0o755)
			if err := syscall.Mount("efivarfs", "/sys/firmware/efi/efivars", "efivarfs", 0, ""); err == nil {
				ents, _ := os.ReadDir("/sys/firmware/efi/efivars")
				vars = len(ents)
			}
		}
	}
	_, err = os.Stat("/sys/firmware/efi/runtime-map")
	return fmt.Sprintf("WARMBOOT-TARGET-FIRMWARE efi=%v runtime_map=%v acpi_dsdt_bytes=%d efivars=%d", efi, err == nil, len(dsdt), vars)
}

// checkEventLog replays the event log warmboot handed over (if any) and
// compares it with the TPM's PCRs as the kernel reports them, as an
// attestation client would. It returns the line to print, "" without a log.
func checkEventLog() string {
	data, err := os.ReadFile(handoff.EventLog)
	if err != nil {
		return ""
	}
	l, err := eventlog.Parse(data)
	if err != nil {
		return fmt.Sprintf("WARMBOOT-TPM-BAD %v", err)
	}
	replay := l.Replay(tpm.SHA256)
	if replay == nil {
		return "WARMBOOT-TPM-BAD the log has no sha256 digests"
	}
	var pcrs []int
	for p := range replay {
		pcrs = append(pcrs, p)
	}
	sort.Ints(pcrs)
	var res []string
	ok := true
	for _, p := range pcrs {
		raw, err := os.ReadFile(fmt.Sprintf("/sys/class/tpm/tpm0/pcr-sha256/%d", p))
		if err != nil {
			return fmt.Sprintf("WARMBOOT-TPM-BAD reading PCR %d: %v", p, err)
		}
		got := strings.ToLower(strings.TrimSpace(string(raw)))
		want := hex.EncodeToString(replay[p])
		if got != want {
			ok = false
			res = append(res, fmt.Sprintf("pcr%d=%s(log %s)", p, got, want))
		} else {
			res = append(res, fmt.Sprintf("pcr%d=%s", p, got))
		}
	}
	tag := "WARMBOOT-TPM-OK"
	if !ok {
		tag = "WARMBOOT-TPM-MISMATCH"
	}
	return fmt.Sprintf("%s events=%d %s", tag, len(l.Events), strings.Join(res, " "))
}
