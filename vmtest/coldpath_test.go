package vmtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/images/disk"
)

// debianGRUBESP is an ESP whose default boot program is GRUB as Debian's
// grub-install makes it for UEFI: a core image that finds the root
// filesystem by UUID, sets its prefix to /boot/grub there and runs the
// distribution's own grub.cfg (update-grub's, with its load_env and
// next_entry handling, on the system's ext4). The modules that config
// loads are built in (Debian's grub-efi-amd64 keeps them in
// /boot/grub/x86_64-efi; this system carries grub-pc's).
func debianGRUBESP(t testing.TB, uuid string) map[string]disk.File {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "early.cfg")
	os.WriteFile(cfg, []byte("search --no-floppy --fs-uuid --set=root "+uuid+"\nset prefix=($root)/boot/grub\nconfigfile $prefix/grub.cfg\n"), 0o644)
	out := filepath.Join(dir, "BOOTX64.EFI")
	mods := "part_gpt part_msdos ext2 fat linux normal search search_fs_uuid search_label configfile loadenv test echo gzio all_video efi_gop font gfxterm gfxmenu png jpeg sleep serial terminal boot chain"
	cmd := exec.Command("grub-mkstandalone", "-O", "x86_64-efi", "-o", out, "--modules="+mods, "--locales=", "--themes=", "--fonts=", "boot/grub/grub.cfg="+cfg)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("grub-mkstandalone (make deps installs grub-efi-amd64-bin): %v: %s", err, b)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]disk.File{"/EFI/BOOT/BOOTX64.EFI": {Data: data}}
}

// run runs cmd at the Debian system's root prompt on an OVMF console and
// returns its output and status.
func (v *efiVM) run(n *int, cmd string) (string, int) {
	v.t.Helper()
	*n++
	end := "WBE-" + strconv.Itoa(*n) + "-"
	v.t.Logf("debian# %s", cmd)
	v.send(cmd + "; echo " + end + "$?\r")
	out := v.until(end)
	code, err := strconv.Atoi(strings.TrimSpace(v.line()))
	if err != nil {
		v.t.Fatalf("%q: no status", cmd)
	}
	return strings.ReplaceAll(strings.TrimPrefix(out, "wbdeb# "), "\r", ""), code
}

func (v *efiVM) ok(n *int, cmd string) string {
	v.t.Helper()
	out, code := v.run(n, cmd)
	if code != 0 {
		v.t.Fatalf("%q: exit %d:\n%s", cmd, code, out)
	}
	return out
}

// TestDebianGRUBFallback is the promise on the path most servers take: a
// stock Debian 12 whose firmware (OVMF) starts GRUB, with Debian's own
// grub.cfg, warmboot only on the kexec path. A kernel upgrade whose new
// initrd is broken makes GRUB's default ("simple") the new kernel.
//
//  1. The operator's reboot (warmboot-load enabled) goes through
//     warmboot, whose default is the new kernel: not last-known-good
//     (known by what it boots, not by its id), so a trial, and before its
//     kexec warmboot sets GRUB's next_entry to the old kernel's own entry.
//     The new kernel panics (panic=N), the machine resets through the
//     firmware, and GRUB boots the old kernel once, clearing next_entry as
//     GRUB does; warmboot-bless there records the failed trial.
//  2. warmswap -entry to another new kernel, one that hangs (its initrd's
//     /init loops): a trial, and this time warmswap sets next_entry
//     before anything stops; the watchdog the bootloader armed resets the
//     machine at the deadline, and GRUB boots the old kernel once.
//  3. warmboot.efi (the payload) registered as the UEFI boot entry
//     ahead of GRUB (warmboot efi-entry): every cold boot goes through
//     warmboot; a swap to the kernel that panics comes back through
//     warmboot's own state.
//  4. Kernels the firmware starts itself (efibootmgr entries of EFI-stub
//     kernels, the newest first in BootOrder): warmswap sets BootNext to
//     the running kernel's entry; the panic comes back through it. And
//     Debian's kexec-tools, installed with LOAD_KEXEC=true, loads
//     nothing at a reboot where the package is installed.
//
// Without that one-shot, GRUB would boot the broken default again, with
// no panic=N (Debian's kernel halts on panic): the machine would be
// stranded.
func TestDebianGRUBFallback(t *testing.T) {
	parallel(t)
	sys := debianInstalled(t, false)
	d, uuid, oldRel := sys.d, sys.uuid, sys.oldRel
	d.ok("warmsign sign -key /root/host.sec -root / -all >/dev/null")
	d.send("systemctl poweroff")
	if err := d.vm.Wait(); err != nil {
		t.Fatalf("poweroff: %v", err)
	}
	espFiles := debianGRUBESP(t, uuid)
	espFiles["/EFI/warmboot/warmboot.efi"] = disk.File{Src: payload} // for step 3
	esp := buildDisk(t, disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "ESP", SizeMiB: 96, ESP: true, Files: espFiles}}})
	vm := startFirmware(t, ovmf, 25*time.Minute, true,
		"-machine", "q35", "-cpu", qemuCPU(), "-m", "2G", "-smp", debianCPUs(t), "-nic", "none",
		// A watchdog that resets: QEMU's i6300esb, and the ICH9's TCO
		// (iTCO_wdt), which QEMU only lets reset with noreboot off.
		"-device", "i6300esb", "-action", "watchdog=reset", "-global", "ICH9-LPC.noreboot=false",
		"-drive", "file="+sys.root+",if=virtio,format=qcow2",
		"-drive", "file="+esp+",if=virtio,format=raw")
	n := 0
	up := func() {
		t.Helper()
		vm.expect("wbdeb# ")
		vm.ok(&n, "systemctl is-system-running --wait >/dev/null || true")
		if got := vm.ok(&n, "uname -r; cat /proc/cmdline"); !strings.Contains(got, oldRel) || !strings.Contains(got, "BOOT_IMAGE=/boot/vmlinuz-"+oldRel) {
			t.Fatalf("the firmware's GRUB did not boot %s: %s", oldRel, got)
		}
	}
	up()
	// The ESP where an installed system mounts it.
	vm.ok(&n, "mkdir -p /boot/efi && echo '/dev/vdb1 /boot/efi vfat umask=0077 0 2' >> /etc/fstab && systemctl daemon-reload && mount /boot/efi")
	if out := vm.ok(&n, "journalctl -b -u warmboot-bless -o cat"); !strings.Contains(out, "its kernel is the running kernel") || !strings.Contains(out, "is last-known-good") {
		t.Errorf("warmboot-bless on a boot GRUB made did not know the running entry:\n%s", out)
	}
	out := vm.ok(&n, "warmswap -dry-run -entry gnulinux-"+oldRel+"-advanced-"+uuid+" 2>&1")
	if !strings.Contains(out, "check ok: firmware: a cold boot (a reset, a power cycle) starts grub (UEFI: /boot/efi/EFI/BOOT/BOOTX64.EFI is grub)") {
		t.Errorf("warmswap -dry-run does not say the firmware starts GRUB:\n%s", out)
	}
	// The upgrade: a newer kernel whose initrd is broken (its modules
	// missing: the root is never found and the kernel panics), and one
	// whose initrd's /init loops (a hang: only the watchdog ends it),
	// signed; GRUB's default ("simple") now boots the newest, the broken
	// one. The trials get 45 s to bless.
	broken, hang := "6.1.0-999-amd64", "6.1.0-998-amd64"
	vm.ok(&n, fmt.Sprintf("cp /boot/vmlinuz-%s /boot/vmlinuz-%s && echo broken > /boot/initrd.img-%s", oldRel, broken, broken))
	// The hanging initrd is the old one unpacked (unmkinitramfs), its
	// /init replaced, packed again whole: an archive appended to the
	// compressed one is not always read (the kernel wants it 4-byte
	// aligned after the compressed stream, which it is not always).
	vm.ok(&n, fmt.Sprintf("rm -rf /tmp/hang && unmkinitramfs /boot/initrd.img-%s /tmp/hang && d=/tmp/hang/main; [ -d $d ] || d=/tmp/hang; "+
		"printf '#!/bin/sh\\necho WBTEST-HANG\\nwhile :; do sleep 1; done\\n' > $d/init && chmod 755 $d/init && "+
		"cp /boot/vmlinuz-%s /boot/vmlinuz-%s && (cd $d && find . | cpio --quiet -o -H newc) > /boot/initrd.img-%s", oldRel, oldRel, hang, hang))
	vm.ok(&n, "update-grub 2>/dev/null && warmsign sign -key /root/host.sec -root / -all >/dev/null && sed -i 's/$/ warmboot.deadline=45/' /boot/warmboot/cmdline")
	simple := "gnulinux-simple-" + uuid
	fallback := "gnulinux-advanced-" + uuid + ">gnulinux-" + oldRel + "-advanced-" + uuid
	back := func(by, target, how string) {
		t.Helper()
		vm.expect(how)
		up()
		if got := vm.ok(&n, "grub-editenv /boot/grub/grubenv list"); strings.Contains(got, "next_entry=gnulinux") {
			t.Errorf("GRUB's next_entry is still set after GRUB booted it:\n%s", got)
		}
		out := vm.ok(&n, "journalctl -b -u warmboot-bless -o cat")
		if !strings.Contains(out, `the trial of "`+target+`"`) || !strings.Contains(out, "(started by "+by) || !strings.Contains(out, "failed") {
			t.Errorf("warmboot-bless on the fallback did not record the failed trial started by %s:\n%s", by, out)
		}
	}

	// 1. The operator's reboot, through warmboot.
	vm.ok(&n, "systemctl enable --now warmboot-load.service")
	vm.send("systemctl reboot\r")
	vm.expect("warmboot: starting",
		`warmboot: trial: "Debian GNU/Linux" recorded in`,
		`warmboot: firmware path: set grub next_entry="`+fallback+`" in vda1:/boot/grub/grubenv`)
	back("warmboot", simple, "Kernel panic")

	// 2. A warm swap to the kernel that hangs.
	hangID := "gnulinux-" + hang + "-advanced-" + uuid
	vm.send("warmswap -entry " + hangID + " -grace 1s\r")
	vm.expect(
		`warmswap: plan: trial: "`+hangID+`" must run "warmboot bless"`,
		`warmswap: firmware path: set grub next_entry="`+fallback+`" in /boot/grub/grubenv`,
		"warmswap: systemd is PID 1: handing over to systemctl kexec",
		"warmboot: starting",
		"recorded in",
		"warmboot: trial: watchdog armed for 45s")
	back("warmswap", hangID, "WBTEST-HANG")
	t.Logf("warmboot list after the fallbacks:\n%s", vm.ok(&n, "warmboot list 2>&1 | tail -n 8"))

	// 3. The strongest form: warmboot.efi (the payload, copied to the
	// ESP) registered as the UEFI boot entry ahead of GRUB. Every cold
	// boot goes through warmboot, whose own state falls back.
	vm.ok(&n, "systemctl disable --now warmboot-load.service")
	out = vm.ok(&n, "warmboot efi-entry 2>&1")
	if !strings.Contains(out, "warmboot") {
		t.Errorf("warmboot efi-entry said:\n%s", out)
	}
	vm.send("systemctl reboot\r")
	vm.expect("warmboot: starting", `passing over "Debian GNU/Linux": its last trial failed`)
	vm.expect("wbdeb# ")
	vm.ok(&n, "systemctl is-system-running --wait >/dev/null || true")
	if b := vm.ok(&n, "cat /run/warmboot/booted.json"); !strings.Contains(b, `"firmware": "warmboot"`) || !strings.Contains(b, "gnulinux-"+oldRel+"-advanced-") {
		t.Errorf("after a cold boot through warmboot.efi, booted.json:\n%s", b)
	}
	vm.send("warmswap -entry " + simple + " -grace 1s\r")
	vm.expect(`warmswap: check ok: firmware: a cold boot (a reset, a power cycle) starts warmboot`, "warmswap: systemd is PID 1: handing over to systemctl kexec", "Kernel panic", "warmboot: starting",
		`warmboot: warning: the trial of "`+simple+`" (started by warmswap at`, `warmboot: falling back to`)
	vm.expect("wbdeb# ")
	vm.ok(&n, "systemctl is-system-running --wait >/dev/null || true")
	if got := vm.ok(&n, "uname -r"); !strings.Contains(got, oldRel) {
		t.Errorf("after the failed trial under warmboot.efi the machine runs %q, want %s", got, oldRel)
	}
	out = vm.ok(&n, "warmboot efi-entry -remove 2>&1")
	t.Logf("efi-entry -remove:\n%s", out)

	// 4. Kernels the firmware starts itself: UEFI boot entries made
	// with efibootmgr, each an EFI-stub kernel on the ESP with its
	// initrd= and command line in the entry; a kernel upgrade's hook puts
	// the new kernel's entry first in BootOrder. A reset during the trial
	// would start that entry, the broken kernel, with no panic=N:
	// warmswap sets BootNext to the entry the firmware started, the
	// running kernel's.
	//
	// On the way, Debian's kexec-tools (LOAD_KEXEC=true, as installed):
	// its kexec-load script, run as at a reboot, loads /vmlinuz without
	// the package's /etc/default/kexec.d/warmboot and nothing with it;
	// and at the last moment of the reboot below nothing is loaded.
	kexecLoad := "sh -c 'systemctl() { echo reboot.target; }; set -- stop; . /etc/init.d/kexec-load' >/dev/null 2>&1; cat /sys/kernel/kexec_loaded"
	if got := strings.TrimSpace(vm.ok(&n, "cat /etc/default/kexec.d/warmboot >/dev/null && grep '^LOAD_KEXEC' /etc/default/kexec && "+kexecLoad)); got != "LOAD_KEXEC=true\n0" {
		t.Errorf("kexec-tools' kexec-load with the warmboot package installed: %q, want LOAD_KEXEC=true in /etc/default/kexec and nothing loaded", got)
	}
	if got := strings.TrimSpace(vm.ok(&n, "mv /etc/default/kexec.d/warmboot /root/ && "+kexecLoad+"; kexec -u; mv /root/warmboot /etc/default/kexec.d/")); got != "1" {
		t.Errorf("kexec-tools' kexec-load without the package's snippet loaded nothing (kexec_loaded %q): the check above shows nothing", got)
	}
	vm.ok(&n, `printf '#!/bin/sh\necho "WBTEST kexec_loaded=$(cat /sys/kernel/kexec_loaded)" > /dev/console\n' > /usr/lib/systemd/system-shutdown/wbtest-kexec && chmod 755 /usr/lib/systemd/system-shutdown/wbtest-kexec`)
	stubCmdline := "root=UUID=" + uuid + " ro console=ttyS0 quiet"
	register := func(label, rel, name string) {
		t.Helper()
		vm.ok(&n, fmt.Sprintf(`mkdir -p /boot/efi/EFI/debian && cp /boot/vmlinuz-%s /boot/efi/EFI/debian/vmlinuz-%s.efi && cp /boot/initrd.img-%s /boot/efi/EFI/debian/initrd-%s.img && `+
			`efibootmgr -q -c -d /dev/vdb -p 1 -L '%s' -l '\EFI\debian\vmlinuz-%s.efi' -u 'initrd=\EFI\debian\initrd-%s.img %s'`, rel, name, rel, name, label, name, name, stubCmdline))
	}
	register("Debian "+oldRel, oldRel, "old")
	vm.send("systemctl reboot\r")
	vm.expect("WBTEST kexec_loaded=0", "wbdeb# ")
	vm.ok(&n, "systemctl is-system-running --wait >/dev/null || true")
	got := vm.ok(&n, "uname -r; cat /proc/cmdline; efibootmgr")
	cur := ""
	if _, after, ok := strings.Cut(got, "BootCurrent: "); ok && len(after) >= 4 {
		cur = "Boot" + after[:4]
	}
	if !strings.Contains(got, oldRel) || !strings.Contains(got, `initrd=\EFI\debian\initrd-old.img`) || !strings.Contains(got, cur+"* Debian "+oldRel) {
		t.Fatalf("the firmware did not start %s from its boot entry:\n%s", oldRel, got)
	}
	if out := vm.ok(&n, "journalctl -b -u warmboot-bless -o cat"); !strings.Contains(out, "the firmware started it: BootCurrent is "+cur) {
		t.Errorf("warmboot-bless did not know the running entry as %s:\n%s", cur, out)
	}
	register("Debian "+broken, broken, "new") // first in BootOrder
	brokenID := "gnulinux-" + broken + "-advanced-" + uuid
	out = vm.ok(&n, "warmswap -dry-run -entry "+brokenID+" 2>&1")
	if !strings.Contains(out, "starts uefi-entry (UEFI: BootCurrent is "+cur+` "Debian `+oldRel+`", \EFI\debian\vmlinuz-old.efi, a Linux kernel the firmware starts itself)`) {
		t.Errorf("warmswap -dry-run does not say the firmware starts the kernel from %s:\n%s", cur, out)
	}
	vm.send("warmswap -entry " + brokenID + " -grace 1s\r")
	vm.expect(`warmswap: firmware path: set uefi-entry BootNext="`+cur+`": a reset during the trial boots "`+cur+`" once`,
		"warmswap: systemd is PID 1: handing over to systemctl kexec", "warmboot: starting", "Kernel panic", "wbdeb# ")
	vm.ok(&n, "systemctl is-system-running --wait >/dev/null || true")
	got = vm.ok(&n, "uname -r; cat /proc/cmdline; efibootmgr")
	if !strings.Contains(got, oldRel) || !strings.Contains(got, `initrd=\EFI\debian\initrd-old.img`) || !strings.Contains(got, "BootCurrent: "+strings.TrimPrefix(cur, "Boot")) || strings.Contains(got, "BootNext") {
		t.Errorf("after the failed trial the firmware did not start %s once by BootNext:\n%s", cur, got)
	}
	if order := got[strings.Index(got, "BootOrder: ")+len("BootOrder: "):]; strings.HasPrefix(order, strings.TrimPrefix(cur, "Boot")) {
		t.Errorf("BootOrder starts with %s, the old kernel's entry: the test shows nothing:\n%s", cur, got)
	}
	out = vm.ok(&n, "journalctl -b -u warmboot-bless -o cat")
	if !strings.Contains(out, `the trial of "`+brokenID+`"`) || !strings.Contains(out, "failed") || !strings.Contains(out, "UEFI BootNext="+cur+" was used up") {
		t.Errorf("warmboot-bless on the fallback the firmware started did not record the failed trial:\n%s", out)
	}
	vm.send("systemctl poweroff\r")
	vm.wait()
}
