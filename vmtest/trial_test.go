package vmtest

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/images/disk"
)

// bootTrialSystem is bootSystem on a trial machine (startTrialMachine),
// up on its default entry "system".
func bootTrialSystem(t *testing.T, dimg string, timeout time.Duration) (*qemu.VM, *console) {
	t.Helper()
	vm, c := startTrialMachine(t, dimg, timeout)
	expect(t, vm, "WARMBOOT-SYSTEM-UP boot=1 entry=system by=warmboot", "wbsys$ ")
	return vm, c
}

// startTrialMachine starts the enforcing bootloader with the trial
// settings on a machine that resets instead of exiting (no -no-reboot)
// and has QEMU's i6300esb watchdog, which resets the machine when it
// fires.
func startTrialMachine(t *testing.T, dimg string, timeout time.Duration) (*qemu.VM, *console) {
	t.Helper()
	c := &console{}
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(enforceImage),
		qemu.WithAppendKernel("console=ttyS0 quiet warmboot.timeout=0 warmboot.wait=3 "+trialArgs),
		qemu.WithVMTimeout(timeout),
		qemu.LogSerialByLine(c.add),
		qemu.ArbitraryArgs("-device", "i6300esb", "-action", "watchdog=reset", "-drive", "file="+dimg+",if=virtio,format=raw"),
	)
	return vm, c
}

// A warm swap is a trial: a target that panics, then one that hangs
// without pinging the watchdog, each brings the machine back to the
// system it was swapped from, by itself (panic=N; the i6300esb watchdog
// the bootloader armed before the kexec). A good target then blesses
// itself: it is last-known-good and the default, the watchdog is stopped
// and no reset comes after the deadline. Last, a never-kexec machine's
// firmware reboot boots the entry warmswap asked for.
func TestTrialFallback(t *testing.T) {
	parallel(t)
	swapSetup(t)
	d, part := systemDisk(nil)
	dimg := buildDisk(t, d)
	vm, c := bootTrialSystem(t, dimg, 12*time.Minute)

	// 1. A kernel that panics.
	vm.Console.Send("/usr/sbin/warmswap -entry panic -grace 1s\r")
	expect(t, vm,
		`warmswap: plan: trial: "panic" must run "warmboot bless" (or "warmswap -commit") within 40s of its kexec; if it panics (panic=1) or hangs, the machine comes back to "system" by itself`,
		`warmswap: recorded in /boot/warmboot/state: "panic" boots next, once`,
		"warmswap: kexec",
		`warmboot: booting "Panic" as the handoff asks; skipping the menu`,
		`warmboot: trial: "Panic" recorded in vda1:/boot/warmboot/state`,
		"warmboot: trial: watchdog armed for 40s (a kexec leaves it running (watchdog.stop_on_reboot=0))",
		"warmboot: command line: "+cmdPanic+" panic=1 watchdog.open_timeout=40",
		"Kernel panic")
	panicked := time.Now()
	expect(t, vm, "warmboot: starting")
	panicBack := time.Since(panicked)
	expect(t, vm,
		`warmboot: warning: the trial of "panic" (started by warmswap at`,
		`warmboot: falling back to "System", the entry that last came up`,
		"WARMBOOT-SYSTEM-UP boot=2 entry=system by=warmboot", "wbsys$ ")
	if s := stateLine(t, vm, c); !strings.Contains(s, `"last_failure":{"entry":{"id":"panic"`) || !strings.Contains(s, `"tries_left":{"panic":0}`) || strings.Contains(s, `"trial"`) {
		t.Errorf("state after the panic: %s", s)
	}

	// 2. A kernel that hangs: only the watchdog brings the machine back.
	vm.Console.Send("/usr/sbin/warmswap -entry hang -grace 1s\r")
	expect(t, vm,
		"warmswap: kexec",
		"warmboot: trial: watchdog armed for 40s",
		"WARMBOOT-TARGET-HANG")
	hung := time.Now()
	if c.has("Attempted to kill init") {
		t.Fatal("the hanging target exited instead of hanging")
	}
	expect(t, vm, "warmboot: starting")
	hangBack := time.Since(hung)
	expect(t, vm,
		`warmboot: warning: the trial of "hang" (started by warmswap at`,
		`warmboot: falling back to "System"`,
		"WARMBOOT-SYSTEM-UP boot=3 entry=system by=warmboot", "wbsys$ ")
	if s := stateLine(t, vm, c); !strings.Contains(s, `"last_failure":{"entry":{"id":"hang"`) || !strings.Contains(s, `"hang":0`) {
		t.Errorf("state after the hang: %s", s)
	}

	// 3. A good kernel blesses itself; the watchdog never fires.
	vm.Console.Send("/usr/sbin/warmswap -entry system2 -grace 1s\r")
	expect(t, vm, "warmboot: trial: watchdog armed for 40s", "WARMBOOT-SYSTEM-UP boot=4 entry=system2 by=warmboot", "wbsys$ ")
	blessed := time.Now()
	sh(t, vm, "cat /sys/class/watchdog/watchdog0/state", "content=")
	t.Logf("watchdog state on the good target before bless: %s", lastLine(c, "content="))
	vm.Console.Send("/usr/sbin/warmboot bless\r")
	expect(t, vm,
		`warmboot: bless: the trial of "system2" (started by warmswap at`,
		`warmboot: bless: "system2" is now the default`,
		`warmboot: bless: "system2" is last-known-good`,
		"warmboot: bless: watchdog stopped",
		"WBSYS-DONE exit=0", "wbsys$ ")
	// Well past the deadline (40 s from the kexec): still up, no reset.
	time.Sleep(time.Until(blessed.Add(60 * time.Second)))
	sh(t, vm, "alive", "")
	if n := c.count("warmboot: starting"); n != 6 {
		t.Errorf("the bootloader started %d times; want 6 (the first boot, three swaps, two resets): the watchdog fired after bless", n)
	}
	if s := stateLine(t, vm, c); !strings.Contains(s, `"last_good":{"id":"system2"`) || !strings.Contains(s, `"default":{"id":"system2"`) || strings.Contains(s, `"trial"`) {
		t.Errorf("state after bless: %s", s)
	}
	// A machine that must never kexec reboots through the firmware, and
	// the bootloader still boots the entry asked for, once: the one-shot
	// entry warmswap recorded.
	sh(t, vm, "write /etc/warmboot/never-kexec firmware reboots only", "ok")
	vm.Console.Send("/usr/sbin/warmswap -entry target -grace 1s\r")
	expect(t, vm,
		"rebooting through the firmware instead",
		`warmswap: recorded in /boot/warmboot/state: "target" boots next, once`,
		"warmboot: starting",
		`warmboot: booting the one-shot next entry "Target" (asked by warmswap at`,
		`warmboot: trial: "Target" recorded in vda1:/boot/warmboot/state`,
		marker(cmdTarget))
	if n := c.count("warmswap: kexec"); n != 3 {
		t.Errorf("%d kexecs by warmswap; want 3 (the last swap went through the firmware)", n)
	}
	t.Logf("from the failure to the bootloader starting again: panic %s (panic=1), hang %s (watchdog deadline 40 s from the kexec)", panicBack.Round(time.Second), hangBack.Round(time.Second))
	finish(t, vm, true)
	checkClean(t, rootFS(t, dimg, d, part))
}

// stateLine prints the state file on the system's console and returns
// its JSON line.
func stateLine(t *testing.T, vm *qemu.VM, c *console) string {
	t.Helper()
	vm.Console.Send("cat /boot/warmboot/state\r")
	expect(t, vm, "WBSYS-DONE content=warmboot-state 3", "sha256 ", "wbsys$ ")
	return lastLine(c, `{"`)
}

// lastLine is the last console line holding s.
func lastLine(c *console, s string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := len(c.lines) - 1; i >= 0; i-- {
		if strings.Contains(c.lines[i], s) {
			return c.lines[i]
		}
	}
	return ""
}

// A counted entry on the ESP (kernel-install's "+3", the layout
// systemd-boot reads; its manifest on the ESP beside it), the ESP mounted
// at /efi as systemd's gpt-auto-generator or an fstab puts it: the
// bootloader boots it (the ESP's entries come first: it is the first
// disk partition), renaming it "+2-1" on the ESP before the kexec, and
// bless on the running system finds it under /efi (not
// /boot/loader/entries), renames it to the good name as
// systemd-bless-boot would, syncs the directory, records it and stops the
// watchdog the bootloader armed for the counted entry (40 s).
func TestBlessCountedEntryOnESP(t *testing.T) {
	parallel(t)
	swapSetup(t)
	root := "/dev/vda2"
	m := manifest.Manifest{
		Kernel:  manifest.File{Path: "/vmlinuz", SHA256: sum(kernelData)},
		Initrds: []manifest.File{{Path: "/system.img", SHA256: sum(systemData)}},
		Cmdline: cmdSystem(root),
	}
	d, _ := systemDisk(map[string]disk.File{
		"/loader/entries/esp+3.conf": {Data: []byte("title System on the ESP\nlinux /vmlinuz\ninitrd /system.img\noptions " + cmdSystem(root) + "\n")},
		"/vmlinuz":                   {Src: kernel},
		"/system.img":                {Src: systemImg},
		"/warmboot/esp.manifest":     {Data: m.Sign(signKey)},
	})
	dimg := buildDisk(t, d)
	vm, _ := startTrialMachine(t, dimg, 5*time.Minute)
	expect(t, vm,
		"warmboot: boot counting: vda1:/loader/entries/esp+3.conf is now esp+2-1.conf (tries left after this one: 2)",
		`warmboot: booting "System on the ESP"`,
		"WARMBOOT-SYSTEM-UP boot=1 entry=esp by=warmboot", "wbsys$ ")
	sh(t, vm, "mount /dev/vda1 /efi vfat", "ok")
	vm.Console.Send("/usr/sbin/warmboot bless\r")
	expect(t, vm,
		`warmboot: bless: "esp" is last-known-good`,
		"warmboot: bless: boot counting: /efi/loader/entries/esp+2-1.conf is now esp.conf, as systemd-bless-boot marks a good boot",
		"warmboot: bless: watchdog stopped",
		"WBSYS-DONE exit=0", "wbsys$ ")
	vm.Kill() // bless synced the renamed entry's directory: nothing else is needed on the disk
	vm.Wait()
	out, err := exec.Command("mdir", "-b", "-i", fmt.Sprintf("%s@@%d", dimg, d.Offset(1)), "::/loader/entries").CombinedOutput()
	if err != nil {
		t.Fatalf("mdir: %v: %s", err, out)
	}
	if got := strings.TrimSpace(string(out)); got != "::/loader/entries/esp.conf" {
		t.Errorf("the ESP's entries after bless: %q, want only esp.conf", got)
	}
	// Whole: on FAT a renamed file's size and first cluster reach its new
	// directory entry only when the file itself is synced.
	b, err := fatRead(fmt.Sprintf("%s@@%d", dimg, d.Offset(1)), "/loader/entries/esp.conf")
	if want := "title System on the ESP\n"; err != nil || !strings.HasPrefix(string(b), want) {
		t.Errorf("esp.conf on the disk after bless: %q, %v; want the entry as written", b, err)
	}
}
