package vmtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/images/disk"
	"github.com/warmboot/warmboot/images/trustimg"
)

// The payload (make payload): one kernel with the image inside, booted
// with no initrd. payloadImage is the no-modules image inside it, from
// which the tests build payloads with other trust.
var payload, payloadImage string

var (
	enforcePayloadOnce sync.Once
	enforcePayload     string
	enforcePayloadErr  error
)

// payloadEnforce is a payload whose image enforces the tests' keys (as
// enforceImage does), built with images/payload on the cached tree.
func payloadEnforce(t testing.TB) string {
	t.Helper()
	enforcePayloadOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warmboot-payload-")
		if err != nil {
			enforcePayloadErr = err
			return
		}
		base, err := os.ReadFile(payloadImage)
		if err != nil {
			enforcePayloadErr = err
			return
		}
		img, _, err := trustimg.Append(base, imageKeys, "enforce", "", "")
		if err != nil {
			enforcePayloadErr = err
			return
		}
		cpio := filepath.Join(dir, "payload-enforce.cpio")
		if enforcePayloadErr = os.WriteFile(cpio, img, 0o644); enforcePayloadErr != nil {
			return
		}
		enforcePayload = filepath.Join(dir, "warmboot.bzImage")
		cmd := exec.Command("go", "run", "./images/payload", "-initramfs", cpio, "-o", enforcePayload, "-efi", "")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			enforcePayloadErr = fmt.Errorf("images/payload: %v: %s", err, out)
		}
	})
	if enforcePayloadErr != nil {
		t.Fatal(enforcePayloadErr)
	}
	return enforcePayload
}

// bootPayload boots the payload as a firmware would hand it over: QEMU's
// -kernel under SeaBIOS, no initrd.
func bootPayload(t *testing.T, bz, kernelArgs string, qemuArgs ...string) *qemu.VM {
	t.Helper()
	return qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(bz),
		qemu.WithAppendKernel("console=ttyS0 quiet "+kernelArgs),
		qemu.WithVMTimeout(4*time.Minute),
		qemu.ArbitraryArgs(append([]string{"-no-reboot"}, qemuArgs...)...),
	)
}

// monitor is QEMU's human monitor on a unix socket: sendkey types on the
// machine's keyboard.
type monitor struct {
	t    testing.TB
	sock string
}

func newMonitor(t testing.TB) (*monitor, []string) {
	sock := filepath.Join(t.TempDir(), "monitor.sock")
	return &monitor{t: t, sock: sock}, []string{"-monitor", "unix:" + sock + ",server=on,wait=off"}
}

func (m *monitor) sendkeys(keys ...string) {
	m.t.Helper()
	c, err := net.Dial("unix", m.sock)
	if err != nil {
		m.t.Fatalf("QEMU monitor: %v", err)
	}
	defer c.Close()
	for _, k := range keys {
		fmt.Fprintf(c, "sendkey %s\n", k)
		time.Sleep(200 * time.Millisecond)
	}
}

// payloadDisks are an NVMe disk (XFS, a BLS entry; with esp, an ESP
// before it), a SATA disk behind AHCI (ext4, grub.cfg) and a USB stick on
// xHCI (FAT, syslinux), with a USB keyboard and no PS/2 controller
// (i8042=off), as QEMU arguments.
func payloadDisks(t *testing.T, esp map[string]disk.File) []string {
	var nvm disk.Disk
	if esp != nil {
		nvm.Parts = append(nvm.Parts, disk.FS{Type: "vfat", Label: "ESP", SizeMiB: 16, ESP: true, Files: esp})
	}
	nvm.Parts = append(nvm.Parts, disk.FS{Type: "xfs", Label: "nvboot", SizeMiB: 64, Files: map[string]disk.File{
		"/vmlinuz":                 {Src: kernel},
		"/target.img":              {Src: target},
		"/loader/entries/nvm.conf": {Data: []byte(blsEntry("On NVMe", "6.1", "", "/vmlinuz", "console=ttyS0 quiet wbtest=nvme"))},
		// The menu waits for the keyboard (an EFI boot has no
		// warmboot.timeout= to give).
		"/loader/loader.conf": {Data: []byte("timeout 120\n")},
	}})
	nvme := buildDisk(t, nvm)
	sata := buildDisk(t, disk.Disk{Parts: []disk.FS{{Type: "ext4", Label: "satab", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":       {Src: kernel},
		"/target.img":    {Src: target},
		"/grub/grub.cfg": {Data: []byte("menuentry 'On SATA' {\n\tlinux /vmlinuz console=ttyS0 quiet wbtest=sata\n\tinitrd /target.img\n}\n")},
	}}}})
	usb := buildDisk(t, disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "USBSTICK", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":               {Src: kernel},
		"/target.img":            {Src: target},
		"/syslinux/syslinux.cfg": {Data: []byte("DEFAULT usb\nLABEL usb\n  MENU LABEL On USB\n  LINUX /vmlinuz\n  INITRD /target.img\n  APPEND console=ttyS0 quiet wbtest=usb\n")},
	}}}})
	return []string{
		"-machine", "i8042=off",
		"-drive", "file=" + nvme + ",if=none,id=nvm,format=raw", "-device", "nvme,serial=wbpayload,drive=nvm,bootindex=1",
		"-device", "ahci,id=ahci", "-drive", "file=" + sata + ",if=none,id=sata,format=raw", "-device", "ide-hd,drive=sata,bus=ahci.0",
		"-device", "qemu-xhci,id=xhci",
		"-drive", "file=" + usb + ",if=none,id=usbdisk,format=raw", "-device", "usb-storage,bus=xhci.0,drive=usbdisk",
		"-device", "usb-kbd,bus=xhci.0",
	}
}

// chooseSATA waits for the menu to list the three disks' entries, types
// the SATA entry's number and Enter on the USB keyboard, and waits for
// that entry's target. until returns what the console printed before a
// string.
func chooseSATA(t *testing.T, mon *monitor, until func(string) string) {
	t.Helper()
	until("warmboot: 3 boot entries")
	var menu string
	for _, want := range []string{"On NVMe", "On SATA", "On USB"} {
		menu += until(want) + want
	}
	menu += until("(any key stops the countdown)")
	// The menu numbers entries as it lists them; find the SATA entry's.
	n := ""
	for _, l := range strings.Split(menu, "\n") {
		if strings.Contains(l, "On SATA") {
			if f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(l), "*")); len(f) > 0 {
				n = strings.TrimSuffix(f[0], ")")
			}
		}
	}
	if n == "" {
		t.Fatalf("no number for the SATA entry in %q", menu)
	}
	mon.sendkeys(n)
	until("Countdown stopped.")
	mon.sendkeys("ret")
	until(marker("BOOT_IMAGE=/vmlinuz console=ttyS0 quiet wbtest=sata"))
}

// The payload, handed over by SeaBIOS as QEMU's -kernel, finds entries on
// an NVMe disk, a SATA disk behind AHCI and a USB stick (xHCI), with the
// drivers built in (nothing loaded), and the entry is chosen on the USB
// keyboard: with no PS/2 controller, the keys can only come from usb-kbd.
func TestPayloadDisks(t *testing.T) {
	parallel(t)
	mon, monArgs := newMonitor(t)
	vm := bootPayload(t, payload, "", append(monArgs, payloadDisks(t, nil)...)...)
	chooseSATA(t, mon, func(w string) string {
		t.Helper()
		s, err := vm.Console.ExpectString(w)
		if err != nil {
			t.Fatalf("console never printed %q: %v", w, err)
		}
		return strings.TrimSuffix(s, w)
	})
	finish(t, vm, true)
}

// The same machine under UEFI (OVMF, no Secure Boot): the firmware starts
// the payload from the NVMe disk's ESP (/EFI/BOOT/BOOTX64.EFI, the EFI
// stub, with no arguments: the payload's built-in command line gives the
// consoles), and it boots the entry chosen on the USB keyboard.
func TestPayloadDisksUEFI(t *testing.T) {
	parallel(t)
	mon, monArgs := newMonitor(t)
	devices := append(monArgs, payloadDisks(t, map[string]disk.File{"/EFI/BOOT/BOOTX64.EFI": {Src: payload}})...)
	vm := startFirmware(t, ovmf, 5*time.Minute, false, devices...)
	vm.expect("Kernel command line: console=tty0 console=ttyS0,115200 watchdog.stop_on_reboot=0", "warmboot: starting")
	chooseSATA(t, mon, vm.until)
	vm.wait()
}

// Debian's ovmf ships the snakeoil key its OVMF_VARS_4M.snakeoil.fd
// enrolls as PK, KEK and db, encrypted with the passphrase "snakeoil"
// (its README.Debian); sbsign would ask for it, so the tests decrypt it.
const (
	snakeoilKey  = "/usr/share/ovmf/PkKek-1-snakeoil.key"
	snakeoilCert = "/usr/share/ovmf/PkKek-1-snakeoil.pem"
)

var (
	snakeoilOnce  sync.Once
	snakeoilPlain string
	snakeoilErr   error
)

func snakeoil(t testing.TB) string {
	t.Helper()
	snakeoilOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warmboot-snakeoil-")
		if err != nil {
			snakeoilErr = err
			return
		}
		snakeoilPlain = filepath.Join(dir, "db.key")
		if b, err := exec.Command("openssl", "rsa", "-in", snakeoilKey, "-passin", "pass:snakeoil", "-out", snakeoilPlain).CombinedOutput(); err != nil {
			snakeoilErr = fmt.Errorf("decrypting %s (make deps installs ovmf and openssl): %v: %s", snakeoilKey, err, b)
		}
	})
	if snakeoilErr != nil {
		t.Fatal(snakeoilErr)
	}
	return snakeoilPlain
}

// sbsign signs the PE program in with the snakeoil db key, replacing any
// signature it had, into a new file.
func sbsign(t testing.TB, in string) string {
	t.Helper()
	dir := t.TempDir()
	bare, out := filepath.Join(dir, "unsigned"), filepath.Join(dir, "signed")
	unsign(t, in, bare)
	if b, err := exec.Command("sbsign", "--key", snakeoil(t), "--cert", snakeoilCert, "--output", out, bare).CombinedOutput(); err != nil {
		t.Fatalf("sbsign (make deps installs sbsigntool): %v: %s", err, b)
	}
	return out
}

// unsign writes in without its signatures (Debian signs its kernels).
func unsign(t testing.TB, in, out string) {
	t.Helper()
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("sbattach", "--remove", out).CombinedOutput(); err != nil && !strings.Contains(string(b), "No signature table present") {
		t.Fatalf("sbattach --remove (make deps installs sbsigntool): %v: %s", err, b)
	}
}

// secureESP is an ESP whose default boot program is the payload efi, with
// two BLS entries: the default one's kernel unsigned, the other's signed
// with the db key.
func secureESP(t testing.TB, efi string) disk.Disk {
	unsigned := filepath.Join(t.TempDir(), "unsigned-vmlinuz")
	unsign(t, kernel, unsigned)
	return disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "ESP", SizeMiB: 48, ESP: true, Files: map[string]disk.File{
		"/EFI/BOOT/BOOTX64.EFI":          {Src: efi},
		"/signed-vmlinuz":                {Src: sbsign(t, kernel)},
		"/unsigned-vmlinuz":              {Src: unsigned},
		"/target.img":                    {Src: target},
		"/loader/loader.conf":            {Data: []byte("default unsigned.conf\ntimeout 1\n")},
		"/loader/entries/unsigned.conf":  {Data: []byte("title Unsigned\nlinux /unsigned-vmlinuz\ninitrd /target.img\noptions console=ttyS0 quiet wbtest=unsigned\n")},
		"/loader/entries/db-signed.conf": {Data: []byte("title Signed by db\nlinux /signed-vmlinuz\ninitrd /target.img\noptions console=ttyS0 quiet wbtest=db-signed\n")},
	}}}}
}

// Under UEFI Secure Boot (OVMF, snakeoil keys enforced): the payload,
// signed with the db key, is started by the firmware from the ESP; the
// kernel locks itself down; the unsigned default entry is refused by the
// kernel with warmboot's explanation, and warmboot falls on to the entry
// whose kernel is signed with the db key, which kexec_file_load verifies
// against the platform keyring.
func TestPayloadSecureBoot(t *testing.T) {
	parallel(t)
	d := secureESP(t, sbsign(t, payload))
	vm := startFirmware(t, ovmfSecure, 5*time.Minute, false, "-drive", "file="+buildDisk(t, d)+",if=virtio,format=raw")
	vm.expect("Kernel is locked down from EFI Secure Boot; see man kernel_lockdown.7",
		"secureboot: Secure boot enabled",
		"warmboot: starting",
		"kernel lockdown (integrity): the kernel kexecs only kernels it can verify the signature of",
		"only kexecs kernels whose signature it can verify with a key in its keyrings",
		marker("console=ttyS0 quiet wbtest=db-signed"))
	vm.wait()
}

// A signed payload with one byte changed is refused by the firmware: it
// never starts.
func TestPayloadTampered(t *testing.T) {
	parallel(t)
	signed := sbsign(t, payload)
	data, err := os.ReadFile(signed)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	tampered := filepath.Join(t.TempDir(), "tampered.efi")
	if err := os.WriteFile(tampered, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d := secureESP(t, tampered)
	vm := startFirmware(t, ovmfSecure, 3*time.Minute, false, "-drive", "file="+buildDisk(t, d)+",if=virtio,format=raw")
	vm.expect("Access Denied")
	// Give a started kernel time to say so (it prints within a second
	// of the firmware handing over).
	time.Sleep(10 * time.Second)
	if vm.all.has("Linux version") || vm.all.has("warmboot") || vm.all.has("EFI stub") {
		t.Errorf("the tampered payload ran")
	}
	vm.kill()
}

// payloadSystem is systemDisk with the payload that enforces the tests'
// keys installed as the bootloader: /boot/warmboot holds warmboot.bzImage
// and no vmlinuz or initramfs; with onESP, an ESP holds it too, as the
// firmware's boot program. It returns the disk, the root partition's
// number and the payload.
func payloadSystem(t testing.TB, onESP bool) (disk.Disk, int, string) {
	t.Helper()
	swapSetup(t)
	bz := payloadEnforce(t)
	var esp map[string]disk.File
	if onESP {
		esp = map[string]disk.File{"/EFI/BOOT/BOOTX64.EFI": {Src: bz}}
	}
	d, part := systemDisk(esp)
	root := d.Parts[part-1].Files
	delete(root, "/boot/warmboot/vmlinuz")
	delete(root, "/boot/warmboot/initramfs.cpio.zst")
	root["/boot/warmboot/warmboot.bzImage"] = disk.File{Src: bz}
	return d, part, bz
}

// bootPayloadSystem boots the payload bz as the firmware's payload (QEMU's
// -kernel, no initrd) on the system disk at dimg, and waits for the
// system to come up.
func bootPayloadSystem(t testing.TB, bz, dimg string, timeout time.Duration) (*qemu.VM, *console) {
	t.Helper()
	c := &console{}
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(bz),
		qemu.WithAppendKernel("console=ttyS0 quiet warmboot.timeout=0 warmboot.wait=3"),
		qemu.WithVMTimeout(timeout),
		qemu.LogSerialByLine(c.add),
		qemu.ArbitraryArgs("-no-reboot", "-drive", "file="+dimg+",if=virtio,format=raw"),
	)
	expect(t, vm, "WARMBOOT-SYSTEM-UP boot=1 entry=system by=warmboot", "wbsys$ ")
	return vm, c
}

// A system booted by the payload swaps through it: warmswap finds the
// payload in /boot/warmboot, reads the keys inside it, and re-enters it
// with the handoff as its only initrd; the payload boots the target the
// handoff names. (TestSwapSoak swaps through the payload twenty times.)
func TestSwapPayload(t *testing.T) {
	parallel(t)
	d, part, bz := payloadSystem(t, false)
	dimg := buildDisk(t, d)
	vm, _ := bootPayloadSystem(t, bz, dimg, 4*time.Minute)
	sh(t, vm, "write /root/unsynced.txt kept across the swap", "ok")
	vm.Console.Send("/usr/sbin/warmswap -entry target -grace 1s\r")
	expect(t, vm,
		"warmswap: check ok: bootloader: payload /boot/warmboot/warmboot.bzImage (policy enforce",
		"warmswap: check ok: verification: verified: signed by",
		"warmswap: check ok: the kernel accepted the image (kexec_file_load)",
		"warmswap: kexec",
		"warmboot: starting",
		"warmboot: fast path: mounted only",
		`warmboot: booting "Target" as the handoff asks; skipping the menu`,
		"WARMBOOT-TARGET-BOOTED entry=target by=warmboot",
		marker(cmdTarget))
	finish(t, vm, true)
	cat := checkClean(t, rootFS(t, dimg, d, part))
	if got := cat("/root/unsynced.txt"); got != "kept across the swap\n" {
		t.Errorf("/root/unsynced.txt = %q after the swap", got)
	}
}
