package vmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/images/disk"
)

// TestDebian is the operator's path on a stock Debian 12 server
// (images/debian/mkdebian.sh: Debian's own packages, systemd 252, the stock
// initramfs-tools initrd, update-grub's grub.cfg), in one VM, step by step:
// boot it through the "firmware" (QEMU starting Debian's kernel as GRUB
// would), install the .deb (make deb), install the bootloader (the
// payload, README's install) with a test key and sign with warmsign, then
//
//	a. warmswap -entry: a swap through warmboot to another GRUB entry,
//	   the payload mounting only the filesystems the handoff names;
//	b. systemctl reboot with warmboot-load.service enabled goes through
//	   warmboot (systemd 252 alone would go through the firmware);
//	c. a second kernel package installed by dpkg: the hooks write its
//	   manifest, report it unsigned, sign it once SIGN_KEY is set; the
//	   configs' default is now the new kernel, so the default kept since
//	   the blessed swap (a) gives way and the reboot boots it as a trial;
//	e. a swap back to the older kernel, its initrd without warmboot's
//	   hook (no booted.json), is blessed all the same;
//	d. disable --now unloads: systemctl reboot goes through the firmware.
//
// After each boot: the file written without sync is there, the previous
// boot's journal ends with a clean stop and holds warmswap's messages, no
// unit failed, the root was not recovered, the clock is right, and after
// the warm paths /run/warmboot/booted.json (the initramfs-tools hook) and
// warmboot-booted's journal lines are there. At the end, after poweroff,
// e2fsck finds the root clean.
func TestDebian(t *testing.T) {
	parallel(t)
	sys := debianInstalled(t, false)
	d, fw, uuid, oldRel, newRel := sys.d, sys.fw, sys.uuid, sys.oldRel, sys.newRel
	if !strings.Contains(sys.dpkg, "update-initramfs: Generating /boot/initrd.img-") {
		t.Errorf("installing the package did not rebuild the initramfs (the trigger):\n%s", sys.dpkg)
	}
	d.ok("lsinitramfs /boot/initrd.img-$(uname -r) | grep -x usr/share/initramfs-tools/scripts/init-bottom/warmboot || lsinitramfs /boot/initrd.img-$(uname -r) | grep -x scripts/init-bottom/warmboot")
	out := d.ok("warmsign sign -key /root/host.sec -root / -all")
	if !strings.Contains(out, "/boot/warmboot/") {
		t.Errorf("warmsign wrote its manifests elsewhere than /boot/warmboot:\n%s", out)
	}
	// The host's list tells the truth: the installed image enforces.
	out = d.ok("warmboot list")
	if !strings.Contains(out, "trust: policy enforce") || !strings.Contains(out, "(from /boot/warmboot/warmboot.bzImage)") {
		t.Errorf("warmboot list on the host does not report the installed image's trust:\n%s", out)
	}
	out = d.ok("warmboot list -json")
	if !strings.Contains(out, `"index": 1,`) {
		t.Errorf("list -json does not number entries from 1:\n%s", out)
	}

	// a. A swap to the running kernel's entry in GRUB's Advanced submenu.
	entry := "gnulinux-" + oldRel + "-advanced-" + uuid
	d.ok("echo written-before-a > /root/unsynced-a")
	d.send("warmswap -entry " + entry)
	d.expect("warmswap: check ok: bootloader: payload /boot/warmboot/warmboot.bzImage (policy enforce",
		"warmswap: check ok: verification: verified: signed by",
		"warmswap: check ok: fast path: the bootloader mounts",
		"warmboot: starting",
		"warmboot: fast path: mounted only")
	d.up(true)
	d.checkBoot("/root/unsynced-a", "written-before-a", entry, "warmswap")
	d.ok("journalctl -b -1 -t warmswap | grep -q 'systemd is PID 1: handing over to systemctl kexec'")

	// b. Opt in; systemctl reboot goes through warmboot.
	d.ok("systemctl enable --now warmboot-load.service")
	out = d.ok("warmswap -dry-run")
	if !strings.Contains(out, "next reboot: through warmboot (kexec, no firmware)") {
		t.Errorf("warmswap -dry-run does not say the next reboot goes through warmboot:\n%s", out)
	}
	if got := d.ok("cat /sys/kernel/kexec_loaded"); strings.TrimSpace(got) != "1" {
		t.Errorf("after the dry run, kexec_loaded = %q; the dry run must leave warmboot loaded", got)
	}
	d.ok("echo written-before-b > /root/unsynced-b")
	d.send("systemctl reboot")
	d.expect("warmboot: starting")
	d.up(true)
	// warmboot boots its default: since the blessed swap (a), the entry
	// a swapped to (the package was installed during the first boot, so
	// nothing was last-known-good and the swap was a trial; bless kept
	// its target, over the configs' default, which has not changed).
	d.checkBoot("/root/unsynced-b", "written-before-b", entry, "")
	d.ok("journalctl -b -1 -t warmswap | grep -q 'reboot: through warmboot'")

	// c. The newer kernel from dpkg: unsigned first, reported.
	out = d.ok("dpkg -i /mnt/linux-image-new.deb 2>&1")
	for _, want := range []string{
		"warmboot: WARNING: the installed bootloader (/boot/warmboot) will refuse these entries:",
		"REFUSED Debian GNU/Linux: ",
		"warmboot: reloading warmboot for the next reboot was refused",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("installing a kernel: the hook did not say %q:\n%s", want, out)
		}
	}
	// The operator lets the host sign; the hook signs and reloads.
	d.ok("sed -i 's|^SIGN_KEY=.*|SIGN_KEY=/root/host.sec|' /etc/warmboot/warmboot.conf")
	out = d.ok("/etc/kernel/postinst.d/zz-warmboot " + newRel + " /boot/vmlinuz-" + newRel + " 2>&1")
	if strings.Contains(out, "WARNING") || strings.Contains(out, "refused") {
		t.Errorf("the hook with SIGN_KEY still reports refusals:\n%s", out)
	}
	// The upgrade made GRUB's first entry ("simple") the new kernel: the
	// default kept since the blessed swap (a) gives way to it, and the
	// hook's reload says so; the reboot boots it as a trial (its contents
	// are not last-known-good, whatever its id), blessed once it is up.
	simple := "gnulinux-simple-" + uuid
	// (The hook keeps warmswap's plan out of dpkg's output: it is in the
	// journal.)
	if got := d.ok("journalctl -b -t warmswap -o cat | grep 'plan: warmboot boots as from the firmware' | tail -n 1"); !strings.Contains(got, `plan: warmboot boots as from the firmware: "Debian GNU/Linux", `) || !strings.Contains(got, "vmlinuz-"+newRel) {
		t.Errorf("after the upgrade, the hook's reload does not name the new default (%s) as what boots next:\n%s", newRel, got)
	}
	d.ok("echo written-before-c > /root/unsynced-c")
	d.send("systemctl reboot")
	d.expect("warmboot: starting", `warmboot: trial: "Debian GNU/Linux" recorded in`)
	d.up(true)
	d.checkBoot("/root/unsynced-c", "written-before-c", simple, "")
	if got := d.ok("uname -r; cat /proc/cmdline"); !strings.Contains(got, newRel+"\n") || !strings.Contains(got, "BOOT_IMAGE=/boot/vmlinuz-"+newRel) {
		t.Errorf("the reboot after the upgrade booted %q, want the new kernel %s", got, newRel)
	}
	if out := d.ok("journalctl -b -u warmboot-bless -o cat"); !strings.Contains(out, `"`+simple+`" is last-known-good`) {
		t.Errorf("warmboot-bless did not bless the upgraded kernel's trial:\n%s", out)
	}

	// e. The new kernel is found bad in production: a swap back to the
	// old one, whose initrd was built before warmboot was installed (no
	// hook: update-initramfs -u rebuilds only the newest; here the initrd
	// the system had before dpkg -i put the package's trigger to work),
	// so it has no booted.json. bless knows the running entry by its
	// kernel and command line, and blesses the trial (and stops the
	// watchdog where there is one).
	d.ok("cp /root/initrd.before-warmboot /boot/initrd.img-" + oldRel + " && ! lsinitramfs /boot/initrd.img-" + oldRel + " | grep -q init-bottom/warmboot")
	d.ok("warmsign sign -key /root/host.sec -root / -all >/dev/null")
	d.send("warmswap -entry " + entry)
	d.expect(`warmswap: plan: trial: "`+entry+`"`, "warmboot: starting", `warmboot: trial: "Advanced options for Debian GNU/Linux > Debian GNU/Linux, with Linux `+oldRel+`" recorded in`)
	d.up(true)
	if got := d.ok("uname -r; test -e /run/warmboot/booted.json && echo HAS-BOOTED || echo NO-BOOTED"); !strings.Contains(got, oldRel+"\n") || !strings.Contains(got, "NO-BOOTED") {
		t.Errorf("the swap back to %s without the initramfs hook: %q", oldRel, got)
	}
	if out := d.ok("journalctl -b -u warmboot-bless -o cat"); !strings.Contains(out, "no booted.json") || !strings.Contains(out, `"`+entry+`" is last-known-good`) || !strings.Contains(out, "watchdog stopped") && !strings.Contains(out, "no watchdog device") {
		t.Errorf("warmboot-bless did not bless the swap back to the older kernel:\n%s", out)
	}

	// d. Opting out unloads; systemctl reboot goes through the firmware
	// (QEMU -no-reboot ends).
	d.ok("systemctl disable --now warmboot-load.service")
	if got := d.ok("cat /sys/kernel/kexec_loaded"); strings.TrimSpace(got) != "0" {
		t.Errorf("after disable --now, kexec_loaded = %q, want 0", got)
	}
	if out := d.ok("warmswap -dry-run"); !strings.Contains(out, "next reboot: through the firmware") {
		t.Errorf("warmswap -dry-run after opting out:\n%s", out)
	}
	d.ok("echo written-before-d > /root/unsynced-d")
	since := time.Now()
	d.send("systemctl reboot")
	if err := d.vm.Wait(); err != nil {
		t.Fatalf("the VM did not end at the reboot (a firmware reboot ends QEMU -no-reboot): %v", err)
	}
	if _, ok := d.c.seenAt("warmboot: starting", since); ok {
		t.Error("the reboot after opting out went through warmboot")
	}
	d = fw()
	d.up(false)
	d.checkBoot("/root/unsynced-d", "written-before-d", "", "")
	d.send("systemctl poweroff")
	if err := d.vm.Wait(); err != nil {
		t.Errorf("poweroff: %v", err)
	}
	raw := filepath.Join(sys.dir, "root.raw")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", sys.root, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v: %s", err, out)
	}
	checkClean(t, raw+"?offset=1048576")
}

// debSystem is the Debian system of TestDebian and BenchmarkDebian,
// booted through the "firmware", with the package installed and the
// bootloader (test key, enforce) in /boot/warmboot, the host key
// in /root/host.sec and the transfer disk on /mnt.
type debSystem struct {
	d  *debVM
	fw func() *debVM // boots it again through the firmware
	// dir is the test's scratch directory, root its disk (an overlay
	// of the cached system).
	dir, root                     string
	cmdline, uuid, oldRel, newRel string
	dpkg                          string // what dpkg -i of the package said
}

// debianInstalled boots the cached Debian system (images/debian) and
// installs warmboot on it as README's install section does. stock puts
// Debian's stock initrd (initramfs-tools MODULES=most, 30 MB) back for
// the running kernel instead of the test's small MODULES=dep one, and
// reboots in place (the firmware path of a benchmark) instead of ending
// QEMU.
func debianInstalled(t testing.TB, stock bool) *debSystem {
	return installedOn(t, os.Getenv("WARMBOOT_DEBIAN"), stock, nil)
}

// debianBoth is debianInstalled with the image on Debian's kernel in
// /boot/warmboot-image beside the payload (BenchmarkDebian).
func debianBoth(t testing.TB, stock bool) *debSystem {
	return installedOn(t, os.Getenv("WARMBOOT_DEBIAN"), stock, &sysOptions{both: true})
}

// installedOn is debianInstalled on the system in sys (images/debian's
// directory), with extra files on the transfer disk; with nic set the
// VM has it (QEMU's -nic), else none.
func installedOn(t testing.TB, sys string, stock bool, o *sysOptions) *debSystem {
	swapSetup(t)
	if o == nil {
		o = &sysOptions{}
	}
	deb := os.Getenv("WARMBOOT_DEB")
	read := func(f string) string {
		b, err := os.ReadFile(filepath.Join(sys, f))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	s := &debSystem{cmdline: read("cmdline"), uuid: read("uuid"), oldRel: read("old"), newRel: read("new"), dir: t.TempDir()}

	// The root disk: a copy-on-write overlay of the cached system.
	s.root = filepath.Join(s.dir, "root.qcow2")
	if out, err := exec.Command("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", filepath.Join(sys, "disk.img"), s.root).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img create: %v: %s", err, out)
	}
	// What the operator brings: the package, the bootloader built with
	// the test key (enforce: the payload, or the image on Debian's
	// kernel), the host signing key, a second kernel.
	files := map[string]disk.File{
		"/warmboot.deb": {Src: deb},
		"/host.sec":     {Data: trust.MarshalSecret(signKey)},
	}
	if o.image || o.both {
		files["/vmlinuz"] = disk.File{Src: kernel}
		files["/initramfs.cpio.zst"] = disk.File{Src: bootloaderZst}
	}
	if !o.image {
		files["/warmboot.bzImage"] = disk.File{Src: payloadEnforce(t)}
	}
	if _, err := os.Stat(filepath.Join(sys, "linux-image-new.deb")); err == nil {
		files["/linux-image-new.deb"] = disk.File{Src: filepath.Join(sys, "linux-image-new.deb")}
	}
	for name, f := range o.files {
		files[name] = f
	}
	size, initrd := 96, filepath.Join(sys, "initrd.img")
	if stock {
		files["/initrd.stock"] = disk.File{Src: filepath.Join(sys, "initrd.stock")}
		size, initrd = 128, filepath.Join(sys, "initrd.stock")
	}
	xfer := buildDisk(t, disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "xfer", SizeMiB: size, Files: files}}})

	s.fw = func() *debVM {
		return bootDebian(t, s.root, xfer, filepath.Join(sys, "vmlinuz"), initrd, s.cmdline+o.cmdline, !stock, o.nic)
	}
	d := s.fw()
	s.d = d
	d.up(false)
	d.ok("mount -o ro /dev/vdb1 /mnt")
	// The running kernel's initrd as it was before the package (no
	// init-bottom script): TestDebian's swap back to a kernel whose
	// initrd predates warmboot boots it.
	d.ok("cp /boot/initrd.img-$(uname -r) /root/initrd.before-warmboot")
	s.dpkg = d.ok("dpkg -i /mnt/warmboot.deb 2>&1")
	if stock {
		// Debian's stock initrd as it was built before the package: the
		// package's trigger would add its init-bottom script in 8 minutes
		// of update-initramfs under TCG. Without the script, warm boots
		// keep no /run/warmboot (no booted.json, no bless); nothing
		// BenchmarkDebian measures depends on it.
		d.ok("cp /mnt/initrd.stock /boot/initrd.img-$(uname -r)")
	}
	// README's install: the payload, or the image on Debian's kernel
	// (o.both: the image in /boot/warmboot-image too, for warmswap
	// -bootloader).
	imageIn := func(dir string) {
		d.ok("install -D -m644 /mnt/vmlinuz " + dir + "/vmlinuz && install -m644 /mnt/initramfs.cpio.zst " + dir + "/ && echo 'quiet warmboot.wait=3' > " + dir + "/cmdline")
	}
	switch {
	case o.image:
		imageIn("/boot/warmboot")
	default:
		d.ok("install -D -m644 /mnt/warmboot.bzImage /boot/warmboot/warmboot.bzImage && echo 'quiet warmboot.wait=3' > /boot/warmboot/cmdline")
		if o.both {
			imageIn("/boot/warmboot-image")
		}
	}
	d.ok("install -m600 /mnt/host.sec /root/host.sec")
	return s
}

// sysOptions are what a test adds to the Debian system it boots.
type sysOptions struct {
	// files go on the transfer disk.
	files map[string]disk.File
	// nic is QEMU's -nic for the VM ("" for none).
	nic string
	// cmdline is added to the firmware's command line (GRUB's entry).
	cmdline string
	// image installs the image on Debian's kernel as the bootloader
	// instead of the payload; both installs the payload and, in
	// /boot/warmboot-image, the image.
	image, both bool
}

// debVM is the Debian system in QEMU, driven at root's shell on the
// serial console.
type debVM struct {
	t  testing.TB
	vm *qemu.VM
	c  *console
	n  int
}

// debianCPUs is the Debian VMs' vCPU count: one in tests, which run two
// at a time on this 2-core machine, two in benchmarks, which run alone.
// Under TCG each vCPU is a host thread, and a VM whose vCPUs outnumber
// the cores free to run them stalls at every flush of its translation
// cache (every vCPU must stop): two 2-vCPU Debian VMs side by side took
// 43 s to boot and 123-137 s for update-initramfs -u, two 1-vCPU ones
// 31 s and 78-90 s (2026-12-04, interleaved).
func debianCPUs(t testing.TB) string {
	if _, bench := t.(*testing.B); bench {
		return "2"
	}
	return "1"
}

// qemuCPU is the CPU model of the VMs that build their own QEMU command
// (the Debian ones): WARMBOOT_QEMU_CPU, as the Makefile sets it (qemu64
// with RDRAND for tests, max for benchmarks), else that qemu64.
func qemuCPU() string {
	if m := os.Getenv("WARMBOOT_QEMU_CPU"); m != "" {
		return m
	}
	return "qemu64,+rdrand"
}

// bootDebian boots the Debian system as its firmware would (QEMU's
// -kernel: Debian's kernel and initrd with GRUB's command line), with the
// transfer disk as vdb.
func bootDebian(t testing.TB, root, xfer, vmlinuz, initrd, cmdline string, noReboot bool, nic string) *debVM {
	t.Helper()
	if nic == "" {
		nic = "none"
	}
	c := &console{}
	args := []string{"-drive", "file=" + root + ",if=virtio,format=qcow2",
		"-drive", "file=" + xfer + ",if=virtio,format=raw,readonly=on"}
	if noReboot {
		args = append(args, "-no-reboot")
	}
	vm := qemu.StartT(t, "debian", qemu.ArchAMD64,
		qemu.WithQEMUCommand("qemu-system-x86_64 -machine q35 "+os.Getenv("WARMBOOT_QEMU_ACCEL")+" -cpu "+qemuCPU()+" -m 2G -smp "+debianCPUs(t)+" -nic "+nic),
		qemu.WithKernel(vmlinuz),
		qemu.WithInitramfs(initrd),
		qemu.WithAppendKernel(cmdline),
		qemu.WithVMTimeout(25*time.Minute),
		qemu.LogSerialByLine(c.add),
		qemu.ArbitraryArgs(args...),
	)
	return &debVM{t: t, vm: vm, c: c}
}

func (d *debVM) send(cmd string) {
	d.t.Logf("debian# %s", cmd)
	d.vm.Console.Send(cmd + "\r")
}

func (d *debVM) expect(want ...string) {
	d.t.Helper()
	expect(d.t, d.vm, want...)
}

// up waits for root's prompt; warm says the boot came through warmboot,
// whose record then mounts the transfer disk again.
func (d *debVM) up(warm bool) {
	d.t.Helper()
	d.expect("wbdeb# ")
	// Wait for the boot to finish; a degraded one is caught by checkBoot.
	d.ok("systemctl is-system-running --wait >/dev/null || true")
	if warm {
		d.ok("mount -o ro /dev/vdb1 /mnt")
	}
}

// run runs cmd in root's shell and returns its output and status.
func (d *debVM) run(cmd string) (string, int) {
	d.t.Helper()
	d.n++
	d.send(cmd + "; echo WBE-" + strconv.Itoa(d.n) + "-$?")
	out, err := d.vm.Console.ExpectString("WBE-" + strconv.Itoa(d.n) + "-")
	if err != nil {
		d.t.Fatalf("%q: no end: %v", cmd, err)
	}
	st, err := d.vm.Console.ExpectString("\n")
	if err != nil {
		d.t.Fatalf("%q: no status: %v", cmd, err)
	}
	code, err := strconv.Atoi(strings.TrimSpace(st))
	if err != nil {
		d.t.Fatalf("%q: status %q", cmd, st)
	}
	// What was read since the last command: the prompt, the output and
	// the end marker.
	out = strings.TrimSuffix(out, "WBE-"+strconv.Itoa(d.n)+"-")
	out = strings.TrimPrefix(out, "wbdeb# ")
	return strings.ReplaceAll(out, "\r", ""), code
}

// ok runs cmd and fails the test unless it succeeds.
func (d *debVM) ok(cmd string) string {
	d.t.Helper()
	out, code := d.run(cmd)
	if code != 0 {
		d.t.Fatalf("%q: exit %d:\n%s", cmd, code, out)
	}
	return out
}

// checkBoot checks the boot that just came up: file holds text (written
// without sync before the reboot), the previous boot's journal ended with
// a clean stop, no unit failed, the root was not recovered, the clock is
// right. entry, when not "", is the entry warmboot says it booted, from
// /run/warmboot/booted.json (and the journal); by, when not "", is who
// asked for it.
func (d *debVM) checkBoot(file, text, entry, by string) {
	d.t.Helper()
	if got := d.ok("cat " + file); !strings.Contains(got, text) {
		d.t.Errorf("%s = %q after the reboot, want %q: a write without sync was lost", file, got, text)
	}
	if out := d.ok("journalctl -b -1 -o cat | tail -n 30"); !strings.Contains(out, "Journal stopped") {
		d.t.Errorf("the previous boot's journal does not end with a clean stop:\n%s", out)
	}
	if out := d.ok("systemctl --failed --no-legend"); strings.TrimSpace(out) != "" {
		d.t.Errorf("failed units:\n%s", out)
	}
	if out := d.ok("journalctl -b -k -o cat | grep -i 'EXT4-fs' || true"); strings.Contains(out, "recovery") || strings.Contains(out, "orphan") {
		d.t.Errorf("the root was recovered at mount: it was not cleanly unmounted:\n%s", out)
	}
	guest, _ := strconv.ParseInt(strings.TrimSpace(d.ok("date +%s")), 10, 64)
	if skew := time.Now().Unix() - guest; skew > 5 || skew < -5 {
		d.t.Errorf("the clock is %d s off the host's", skew)
	}
	if entry == "" {
		if _, code := d.run("test -e /run/warmboot/booted.json"); code == 0 {
			d.t.Error("/run/warmboot/booted.json exists after a firmware boot")
		}
		return
	}
	b := d.ok("cat /run/warmboot/booted.json")
	if !strings.Contains(b, `"entry": "`+entry+`"`) {
		d.t.Errorf("booted.json does not name %s:\n%s", entry, b)
	}
	if by != "" && !strings.Contains(b, `"from": "`) {
		d.t.Errorf("booted.json has no handoff (%s asked for the entry):\n%s", by, b)
	}
	if out := d.ok("journalctl -b -u warmboot-booted -o cat"); !strings.Contains(out, "warmboot: booted ") || !strings.Contains(out, "warmboot: timeline: ") {
		d.t.Errorf("warmboot-booted did not put the boot in the journal:\n%s", out)
	}
	if out := d.ok("systemctl is-active warmboot-bless.service"); !strings.Contains(out, "active") {
		d.t.Errorf("warmboot-bless: %s", out)
	}
}
