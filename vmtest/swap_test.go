package vmtest

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
	bootloaderZst         string // enforceImage, zstd-compressed, as installed in /boot/warmboot
	systemData, efiTarget []byte
	swapDir               string
)

func swapSetup(t *testing.T) {
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
// "system" (the default), "target" and "unsigned"; all but "unsigned" are
// signed. It returns the disk and the root partition's number.
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
		"/boot/warmboot/vmlinuz":             {Src: kernel},
		"/boot/warmboot/initramfs.cpio.zst":  {Src: bootloaderZst},
		"/boot/warmboot/cmdline":             {Data: []byte("quiet warmboot.wait=3\n")},
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
}

func (c *console) add(l string) { c.mu.Lock(); c.lines = append(c.lines, l); c.mu.Unlock() }

func (c *console) has(s string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if strings.Contains(l, s) {
			return true
		}
	}
	return false
}

// bootSystem boots warmboot (as a firmware payload) on the system disk
// at dimg, and waits for the system to come up.
func bootSystem(t *testing.T, dimg string, timeout time.Duration) (*qemu.VM, *console) {
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
func sh(t *testing.T, vm *qemu.VM, cmd, status string) {
	t.Helper()
	vm.Console.Send(cmd + "\r")
	expect(t, vm, "WBSYS-DONE "+status, "wbsys$ ")
}

// rootFS copies partition part of the disk image to its own file.
func rootFS(t *testing.T, dimg string, d disk.Disk, part int) string {
	t.Helper()
	off := int64(1 << 20)
	for _, p := range d.Parts[:part-1] {
		off += int64(p.SizeMiB) << 20
	}
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
	if _, err := io.Copy(dst, io.NewSectionReader(src, off, int64(d.Parts[part-1].SizeMiB)<<20)); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	return out
}

// checkClean fails unless the filesystem was cleanly unmounted (no
// journal to replay) and e2fsck finds nothing wrong; it returns a
// function reading files from it.
func checkClean(t *testing.T, img string) func(path string) string {
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
	swapSetup(t)
	d, part := systemDisk(nil)
	dimg := buildDisk(t, d)
	vm, c := bootSystem(t, dimg, 4*time.Minute)
	sh(t, vm, "daemon /var/log/daemon.log", "ok pid=")
	sh(t, vm, "stubborn", "ok pid=")
	sh(t, vm, "write /root/unsynced.txt kept across the swap", "ok")
	vm.Console.Send("/usr/sbin/warmswap -entry target -grace 2s\r")
	expect(t, vm,
		"warmswap: check ok: verification: signed by",
		`warmswap: plan: warmboot boots entry "target" ("Target")`,
		"warmswap: check ok: the kernel accepted the image (kexec_file_load)",
		"warmswap: stopping",
		"processes still running after 2s",
		"remounted read-only: /",
		"warmswap: kexec",
		`boot entry "target"`,
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
