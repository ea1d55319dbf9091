package vmtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/images/disk"
)

// The warm-swap tests run a "system" (images/system: an initramfs that
// mounts an ext4 root on the virtio disk and switches to it) booted by
// warmboot, and swap from it with warmswap.
var (
	swapOnce              sync.Once
	swapErr               error
	systemImg, systemBin  string // system initramfs; its /sbin/init
	warmswapBin           string
	warmbootBin           string // for "warmboot bless" on the system
	bootloaderZst         string // enforceImage, zstd-compressed, as installed in /boot/warmboot
	systemData, efiTarget []byte
	swapDir               string
)

func swapSetup(t testing.TB) {
	t.Helper()
	swapOnce.Do(func() {
		ctx := context.Background()
		if swapDir, swapErr = os.MkdirTemp("", "warmboot-swap-"); swapErr != nil {
			return
		}
		systemImg, systemBin = filepath.Join(swapDir, "system.img"), filepath.Join(swapDir, "system")
		warmswapBin, bootloaderZst = filepath.Join(swapDir, "warmswap"), filepath.Join(swapDir, "initramfs.cpio.zst")
		if swapErr = disk.SystemInitramfs(ctx, "..", os.Getenv("WARMBOOT_KERNEL_DIR"), systemImg, systemBin); swapErr != nil {
			return
		}
		if swapErr = disk.GoBuild(ctx, "..", "./cmds/warmswap", warmswapBin); swapErr != nil {
			return
		}
		warmbootBin = filepath.Join(swapDir, "warmboot")
		if swapErr = disk.GoBuild(ctx, "..", "./cmds/warmboot", warmbootBin); swapErr != nil {
			return
		}
		if out, err := exec.Command("zstd", "-q", "-3", "-f", "-o", bootloaderZst, enforceImage).CombinedOutput(); err != nil {
			swapErr = fmt.Errorf("zstd: %v: %s", err, out)
			return
		}
		if systemData, swapErr = os.ReadFile(systemImg); swapErr != nil {
			return
		}
		efi := filepath.Join(swapDir, "target-efi.img")
		if swapErr = disk.AppendModules(target, os.Getenv("WARMBOOT_KERNEL_DIR"), efi, "efivarfs"); swapErr != nil {
			return
		}
		efiTarget, swapErr = os.ReadFile(efi)
	})
	if swapErr != nil {
		t.Fatalf("building the swap test system: %v", swapErr)
	}
}

// The command lines the system disk's entries and manifests use.
func cmdSystem(root string) string { return "console=ttyS0 quiet root=" + root + " wbtest=system" }

const (
	cmdTarget   = "console=ttyS0 quiet wbtest=target wbtest.firmware"
	cmdExplicit = "console=ttyS0 quiet wbtest=explicit"
	// cmdPanic panics: no init in the initramfs, no root to mount.
	cmdPanic = "console=ttyS0 quiet wbtest=panic rdinit=/nonexistent"
	// cmdHang comes up and hangs (images/target).
	cmdHang = "console=ttyS0 quiet wbtest=hang wbtest.hang"
	// trialArgs are the bootloader's trial settings in the tests: a
	// 40 s watchdog deadline, and a panic resets after 1 s.
	trialArgs = "warmboot.deadline=40 warmboot.panic=1"
)

// sysManifest signs /boot/vmlinuz with initrd and cmdline.
func sysManifest(initrd string, data []byte, cmdline string) disk.File {
	m := manifest.Manifest{
		Kernel:  manifest.File{Path: "/boot/vmlinuz", SHA256: sum(kernelData)},
		Initrds: []manifest.File{{Path: initrd, SHA256: sum(data)}},
		Cmdline: cmdline,
	}
	return disk.File{Data: m.Sign(signKey)}
}

// systemDisk is the running system's disk: an ext4 root (after an ESP
// holding esp as the UEFI boot program, when esp is not nil) with the
// system, warmswap, warmboot installed in /boot/warmboot, and BLS entries
// "system" (the default), "system2" (the same system), "target", "panic",
// "hang" and "unsigned"; all but "unsigned" are signed. It returns the disk and the root partition's number.
func systemDisk(esp map[string]disk.File) (disk.Disk, int) {
	part, root := 1, "/dev/vda1"
	var d disk.Disk
	if esp != nil {
		part, root = 2, "/dev/vda2"
		d.Parts = append(d.Parts, disk.FS{Type: "vfat", Label: "esp", SizeMiB: 16, ESP: true, Files: esp})
	}
	files := map[string]disk.File{
		"/sbin/init":                         {Src: systemBin, Mode: 0o755},
		"/usr/sbin/warmswap":                 {Src: warmswapBin, Mode: 0o755},
		"/boot/vmlinuz":                      {Src: kernel},
		"/boot/system.img":                   {Src: systemImg},
		"/boot/target.img":                   {Data: efiTarget},
		"/boot/loader/loader.conf":           {Data: []byte("default system\n")},
		"/boot/loader/entries/system.conf":   {Data: []byte("title System\nlinux /vmlinuz\ninitrd /system.img\noptions " + cmdSystem(root) + "\n")},
		"/boot/loader/entries/target.conf":   {Data: []byte("title Target\nlinux /vmlinuz\ninitrd /target.img\noptions " + cmdTarget + "\n")},
		"/boot/loader/entries/unsigned.conf": {Data: []byte("title Unsigned\nlinux /vmlinuz\ninitrd /target.img\noptions console=ttyS0 quiet wbtest=unsigned\n")},
		"/boot/loader/entries/system2.conf":  {Data: []byte("title System 2\nlinux /vmlinuz\ninitrd /system.img\noptions " + cmdSystem(root) + "\n")},
		"/boot/loader/entries/panic.conf":    {Data: []byte("title Panic\nlinux /vmlinuz\ninitrd /target.img\noptions " + cmdPanic + "\n")},
		"/boot/loader/entries/hang.conf":     {Data: []byte("title Hang\nlinux /vmlinuz\ninitrd /target.img\noptions " + cmdHang + "\n")},
		"/usr/sbin/warmboot":                 {Src: warmbootBin, Mode: 0o755},
		"/boot/warmboot/panic.manifest":      sysManifest("/boot/target.img", efiTarget, cmdPanic),
		"/boot/warmboot/hang.manifest":       sysManifest("/boot/target.img", efiTarget, cmdHang),
		"/boot/warmboot/vmlinuz":             {Src: kernel},
		"/boot/warmboot/initramfs.cpio.zst":  {Src: bootloaderZst},
		"/boot/warmboot/cmdline":             {Data: []byte("quiet warmboot.wait=3 " + trialArgs + "\n")},
		"/boot/warmboot/system.manifest":     sysManifest("/boot/system.img", systemData, cmdSystem(root)),
		"/boot/warmboot/target.manifest":     sysManifest("/boot/target.img", efiTarget, cmdTarget),
		"/boot/warmboot/explicit.manifest":   sysManifest("/boot/target.img", efiTarget, cmdExplicit),
	}
	for _, dir := range []string{"/proc/", "/sys/", "/dev/", "/run/", "/root/", "/var/log/", "/var/lib/wbsys/", "/etc/warmboot/"} {
		files[dir] = disk.File{}
	}
	d.Parts = append(d.Parts, disk.FS{Type: "ext4", Label: "root", SizeMiB: 96, Files: files})
	return d, part
}

// console collects the serial console's lines, to check what was never
// printed.
type console struct {
	mu    sync.Mutex
	lines []string
	at    []time.Time // when each line arrived (host clock)
}

func (c *console) add(l string) {
	c.mu.Lock()
	c.lines, c.at = append(c.lines, l), append(c.at, time.Now())
	c.mu.Unlock()
}

// seenAt is when the first line containing sub arrived at or after since.
func (c *console) seenAt(sub string, since time.Time) (time.Time, bool) {
	_, at, ok := c.find(sub, since)
	return at, ok
}

// lineAfter is the first line containing sub that arrived at or after
// since.
func (c *console) lineAfter(sub string, since time.Time) (string, bool) {
	l, _, ok := c.find(sub, since)
	return l, ok
}

func (c *console) find(sub string, since time.Time) (string, time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, l := range c.lines {
		if !c.at[i].Before(since) && strings.Contains(l, sub) {
			return l, c.at[i], true
		}
	}
	return "", time.Time{}, false
}

func (c *console) has(s string) bool { return c.count(s) > 0 }

func (c *console) count(s string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, l := range c.lines {
		if strings.Contains(l, s) {
			n++
		}
	}
	return n
}

// bootSystem boots warmboot (as a firmware payload) on the system disk
// at dimg, and waits for the system to come up.
func bootSystem(t testing.TB, dimg string, timeout time.Duration) (*qemu.VM, *console) {
	t.Helper()
	c := &console{}
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(enforceImage),
		qemu.WithAppendKernel("console=ttyS0 quiet warmboot.timeout=0 warmboot.wait=3"),
		qemu.WithVMTimeout(timeout),
		qemu.LogSerialByLine(c.add),
		qemu.ArbitraryArgs("-no-reboot", "-drive", "file="+dimg+",if=virtio,format=raw"),
	)
	expect(t, vm, "WARMBOOT-SYSTEM-UP boot=1 entry=system by=warmboot", "wbsys$ ")
	return vm, c
}

// sh types a command at the system's prompt and waits for its status.
func sh(t testing.TB, vm *qemu.VM, cmd, status string) {
	t.Helper()
	vm.Console.Send(cmd + "\r")
	expect(t, vm, "WBSYS-DONE "+status, "wbsys$ ")
}

// rootFS copies partition part of the disk image to its own file.
func rootFS(t testing.TB, dimg string, d disk.Disk, part int) string {
	t.Helper()
	src, err := os.Open(dimg)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "root.ext4")
	dst, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, io.NewSectionReader(src, d.Offset(part), int64(d.Parts[part-1].SizeMiB)<<20)); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	return out
}

// checkClean fails unless the filesystem was cleanly unmounted (no
// journal to replay) and e2fsck finds nothing wrong; it returns a
// function reading files from it.
func checkClean(t testing.TB, img string) func(path string) string {
	t.Helper()
	hdr, err := exec.Command("dumpe2fs", "-h", img).CombinedOutput()
	if err != nil {
		t.Fatalf("dumpe2fs: %v: %s", err, hdr)
	}
	for _, l := range strings.Split(string(hdr), "\n") {
		if strings.HasPrefix(l, "Filesystem features:") && strings.Contains(l, "needs_recovery") {
			t.Errorf("the journal needs recovery: the filesystem was not cleanly unmounted (%s)", l)
		}
		if strings.HasPrefix(l, "Filesystem state:") && !strings.Contains(l, "clean") {
			t.Errorf("%s", l)
		}
	}
	if out, err := exec.Command("e2fsck", "-fn", img).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v:\n%s", err, out)
	}
	return func(p string) string {
		out, err := exec.Command("debugfs", "-R", "cat "+p, img).Output()
		if err != nil {
			t.Fatalf("debugfs cat %s: %v", p, err)
		}
		return string(out)
	}
}

// A file written without sync and a daemon's unsynced log survive a swap
// by entry id through the bootloader; the filesystem is clean; a process
// that ignores SIGTERM is killed.
func TestSwapEntry(t *testing.T) {
	parallel(t)
	swapSetup(t)
	d, part := systemDisk(nil)
	dimg := buildDisk(t, d)
	vm, c := bootSystem(t, dimg, 4*time.Minute)
	sh(t, vm, "daemon /var/log/daemon.log", "ok pid=")
	sh(t, vm, "stubborn", "ok pid=")
	sh(t, vm, "write /root/unsynced.txt kept across the swap", "ok")
	vm.Console.Send("/usr/sbin/warmswap -entry target -grace 2s\r")
	expect(t, vm,
		"warmswap: check ok: verification: verified: signed by",
		"warmswap: check ok: fast path: the bootloader mounts 1 filesystems by UUID",
		`warmswap: plan: warmboot boots entry "target" ("Target")`,
		"warmswap: check ok: the kernel accepted the image (kexec_file_load)",
		"warmswap: stopping",
		"processes still running after 2s",
		"remounted read-only: /",
		"warmswap: kexec",
		`boot entry "target"`,
		"warmboot: fast path: mounted only vda1: the filesystems the handoff names",
		`warmboot: booting "Target" as the handoff asks; skipping the menu`,
		"WARMBOOT-TARGET-BOOTED entry=target by=warmboot",
		marker(cmdTarget))
	finish(t, vm, true)
	if c.has("needs recovery") {
		t.Error("the bootloader found a journal needing recovery")
	}
	cat := checkClean(t, rootFS(t, dimg, d, part))
	if got := cat("/root/unsynced.txt"); got != "kept across the swap\n" {
		t.Errorf("/root/unsynced.txt = %q after the swap", got)
	}
	if got := cat("/var/log/daemon.log"); !strings.Contains(got, "stopped on SIGTERM") {
		t.Errorf("daemon log = %q; want it stopped on SIGTERM", got)
	}
}

// An explicit kernel, initrd and command line go through the bootloader
// in the handoff, and are verified there against the manifest handed
// with them.
func TestSwapKernel(t *testing.T) {
	parallel(t)
	swapSetup(t)
	d, part := systemDisk(nil)
	dimg := buildDisk(t, d)
	vm, _ := bootSystem(t, dimg, 4*time.Minute)
	vm.Console.Send(`/usr/sbin/warmswap -kernel /boot/vmlinuz -initrd /boot/target.img -cmdline "` + cmdExplicit + `" -grace 1s` + "\r")
	expect(t, vm,
		"warmswap: check ok: verification: verified: signed by",
		"warmswap: plan: warmboot boots the kernel handed over (/boot/vmlinuz)",
		"warmswap: kexec",
		`warmboot: booting "kernel handed over (/boot/vmlinuz)" as the handoff asks; skipping the menu`,
		"warmboot: verified: signed by",
		"(handoff:/boot/warmboot/explicit.manifest)",
		"WARMBOOT-TARGET-BOOTED entry=handoff by=warmboot",
		marker(cmdExplicit))
	finish(t, vm, true)
	checkClean(t, rootFS(t, dimg, d, part))
}

// -direct kexecs the target without re-entering the bootloader, as a
// trial warmswap commits itself as the bootloader would (package loader;
// this VM has no watchdog: it says so, and the target gets panic=N).
func TestSwapDirect(t *testing.T) {
	parallel(t)
	swapSetup(t)
	d, part := systemDisk(nil)
	dimg := buildDisk(t, d)
	vm, c := bootSystem(t, dimg, 4*time.Minute)
	sh(t, vm, "write /root/unsynced.txt direct", "ok")
	vm.Console.Send("/usr/sbin/warmswap -direct -entry target -grace 1s\r")
	expect(t, vm,
		"warmswap: check ok: verification: verified: signed by",
		`warmswap: plan: kexec "Target" directly`,
		`warmswap: plan: trial: "target" must run "warmboot bless"`,
		`warmswap: trial: "Target" recorded in /boot/warmboot/state; it is last-known-good once "warmboot bless" runs on it`,
		"warmswap: warning: trial: no watchdog armed (no watchdog device (/dev/watchdog): no watchdog driver is loaded): a panic resets the machine (panic=1) and ",
		"warmswap: kexec",
		"WARMBOOT-TARGET-BOOTED entry=target by=warmswap_-direct",
		marker(cmdTarget+" panic=1 watchdog.open_timeout=40"))
	finish(t, vm, true)
	if n := c.count("warmboot: starting"); n != 1 {
		t.Errorf("the bootloader started %d times; want once (the first boot only)", n)
	}
	if got := checkClean(t, rootFS(t, dimg, d, part))("/root/unsynced.txt"); got != "direct\n" {
		t.Errorf("/root/unsynced.txt = %q", got)
	}
}

// What warmswap refuses, it refuses before stopping anything: the
// daemon is still running and no kexec image is left loaded. A dry run
// prints the plan and changes nothing either.
func TestSwapRefusals(t *testing.T) {
	parallel(t)
	swapSetup(t)
	d, _ := systemDisk(nil)
	vm, _ := bootSystem(t, buildDisk(t, d), 4*time.Minute)
	sh(t, vm, "daemon /var/log/daemon.log", "ok pid=")

	vm.Console.Send("/usr/sbin/warmswap -dry-run -entry target\r")
	expect(t, vm,
		`warmswap: plan: warmboot boots entry "target" ("Target")`,
		"warmswap: check ok: the kernel accepted the image (kexec_file_load)",
		"warmswap: dry run: every check passed; nothing was stopped or left loaded",
		"WBSYS-DONE exit=0", "wbsys$ ")
	sh(t, vm, "cat /sys/kernel/kexec_loaded", "content=0")

	vm.Console.Send("/usr/sbin/warmswap -entry unsigned\r")
	expect(t, vm,
		`warmswap: refused: verification: "Unsigned" would be refused by the bootloader (policy enforce): does not match its signed manifest`,
		"warmswap: nothing was stopped",
		"WBSYS-DONE exit=1", "wbsys$ ")

	vm.Console.Send("/usr/sbin/warmswap -entry nosuch\r")
	expect(t, vm,
		`warmswap: refused: target: no such entry "nosuch"; entries: `,
		"WBSYS-DONE exit=1", "wbsys$ ")

	sh(t, vm, "set /proc/sys/kernel/kexec_load_disabled 1", "ok")
	vm.Console.Send("/usr/sbin/warmswap -entry target\r")
	expect(t, vm,
		"warmswap: refused: kexec: kexec is disabled on this kernel: kernel.kexec_load_disabled=1, which stays set until reboot; use a normal reboot",
		"warmswap: nothing was stopped",
		"WBSYS-DONE exit=1", "wbsys$ ")
	sh(t, vm, "alive", "daemon=true")
	sh(t, vm, "cat /sys/kernel/kexec_loaded", "content=0")
	finish(t, vm, false)
}

// N swaps in a row in one VM (10 in make test, SOAK_N in make soak), each from the system to itself
// through the bootloader (the payload, as a server would install it; the
// image on Debian's kernel is swapped through by the other tests): every
// one comes back, the boot counter (written and synced each boot) counts
// each exactly once, and nothing grows: the files in /run and the memory
// available stay level. The last swap goes to the target, and the
// filesystem is then checked clean.
func TestSwapSoak(t *testing.T) {
	parallel(t)
	// make test swaps 10 times; make soak as many as SOAK_N says.
	n := 10
	if v, err := strconv.Atoi(os.Getenv("WARMBOOT_SOAK_N")); err == nil && v > 0 {
		n = v
	}
	t.Logf("%d swaps", n)
	d, part, bz := payloadSystem(t, false)
	dimg := buildDisk(t, d)
	vm, c := bootPayloadSystem(t, bz, dimg, time.Duration(n+5)*time.Minute)
	for i := 2; i <= n+1; i++ {
		sh(t, vm, fmt.Sprintf("write /root/swap-%d.txt before swap %d", i, i), "ok")
		vm.Console.Send("/usr/sbin/warmswap -entry system -grace 1s\r")
		expect(t, vm, fmt.Sprintf("WARMBOOT-SYSTEM-UP boot=%d entry=system by=warmboot", i), "wbsys$ ")
	}
	vm.Console.Send("/usr/sbin/warmswap -entry target -grace 1s\r")
	expect(t, vm, marker(cmdTarget))
	finish(t, vm, true)

	var mem, runFiles []int
	for _, l := range c.lines {
		var boot, m, r int
		var e, by string
		i := strings.Index(l, "WARMBOOT-SYSTEM-UP")
		if i < 0 {
			continue
		}
		if _, err := fmt.Sscanf(l[i:], "WARMBOOT-SYSTEM-UP boot=%d entry=%s by=%s mem_available_kb=%d run_files=%d", &boot, &e, &by, &m, &r); err == nil {
			mem, runFiles = append(mem, m), append(runFiles, r)
		}
	}
	if len(mem) != n+1 {
		t.Fatalf("parsed %d system boots, want %d", len(mem), n+1)
	}
	t.Logf("MemAvailable per boot (kB): %v", mem)
	// Boot 1 came from the firmware payload, the others from a swap:
	// compare the swaps with each other.
	for i := 2; i < len(mem); i++ {
		if runFiles[i] != runFiles[1] {
			t.Errorf("boot %d: %d files in /run, boot 2 had %d", i+1, runFiles[i], runFiles[1])
		}
		if mem[i] < mem[1]-mem[1]/50 {
			t.Errorf("boot %d: MemAvailable %d kB, more than 2%% below boot 2's %d kB", i+1, mem[i], mem[1])
		}
	}
	cat := checkClean(t, rootFS(t, dimg, d, part))
	if got := cat("/var/lib/wbsys/boots"); got != fmt.Sprint(n+1)+"\n" {
		t.Errorf("boot counter = %q, want %d", got, n+1)
	}
	for i := 2; i <= n+1; i++ {
		if got := cat(fmt.Sprintf("/root/swap-%d.txt", i)); got != fmt.Sprintf("before swap %d\n", i) {
			t.Errorf("/root/swap-%d.txt = %q", i, got)
		}
	}
}
