package vmtest

import (
	"bufio"
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

	"github.com/warmboot/warmboot/images/disk"
)

// OVMF firmware (Debian's ovmf package).
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
)

var (
	grubOnce sync.Once
	grubEFI  []byte
	grubErr  error
)

// grubESP is an ESP whose default boot program is a standalone GRUB that
// boots the warmboot installed in the root filesystem's /boot/warmboot,
// as a machine with warmboot on its disk (not in flash) starts.
func grubESP(t testing.TB) map[string]disk.File {
	t.Helper()
	grubOnce.Do(func() {
		dir, err := os.MkdirTemp("", "warmboot-grub-")
		if err != nil {
			grubErr = err
			return
		}
		defer os.RemoveAll(dir)
		cfg := filepath.Join(dir, "grub.cfg")
		os.WriteFile(cfg, []byte(`set timeout=0
search --no-floppy --label --set=root root
menuentry warmboot {
  linux /boot/warmboot/vmlinuz console=ttyS0 quiet warmboot.timeout=0 warmboot.wait=3
  initrd /boot/warmboot/initramfs.cpio.zst
}
`), 0o644)
		out := filepath.Join(dir, "BOOTX64.EFI")
		cmd := exec.Command("grub-mkstandalone", "-O", "x86_64-efi", "-o", out,
			"--modules=part_gpt ext2 linux search search_label normal", "--locales=", "--themes=", "--fonts=",
			"boot/grub/grub.cfg="+cfg)
		if b, err := cmd.CombinedOutput(); err != nil {
			grubErr = fmt.Errorf("grub-mkstandalone (make deps installs grub-efi-amd64-bin): %v: %s", err, b)
			return
		}
		grubEFI, grubErr = os.ReadFile(out)
	})
	if grubErr != nil {
		t.Fatal(grubErr)
	}
	return map[string]disk.File{"/EFI/BOOT/BOOTX64.EFI": {Data: grubEFI}}
}

// efiVM is QEMU under OVMF with the serial console on pipes.
// hugelgupf/vmtest puts the console on a pty that is QEMU's stdin and
// stdout at once; OVMF's console setup stalls on it before its boot
// manager runs (never past the first screen clears here), while on pipes
// it boots. So these tests run QEMU themselves.
type efiVM struct {
	t     testing.TB
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	buf   strings.Builder // console output not yet consumed by expect
	all   *console
	done  chan struct{}
	err   error
}

// firmware is an OVMF build and the variable store it starts from.
type firmware struct {
	code, vars string
	// secure: Secure Boot enforced (the code needs SMM and a secure
	// flash, and the store holds the keys).
	secure bool
}

// ovmf is OVMF without Secure Boot. ovmfSecure enforces it with
// Debian's snakeoil PK, KEK and db (the key ships beside it).
var (
	ovmf       = firmware{code: ovmfCode, vars: ovmfVars}
	ovmfSecure = firmware{code: "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd", vars: "/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd", secure: true}
)

// startEFI boots the disk under OVMF. With reboot, a reset goes through
// the firmware again (for the cold-reboot benchmark); else it ends QEMU.
func startEFI(t testing.TB, dimg string, timeout time.Duration, reboot bool) *efiVM {
	t.Helper()
	return startFirmware(t, ovmf, timeout, reboot, "-drive", "file="+dimg+",if=virtio,format=raw")
}

// startFirmware boots fw with the given disks and devices (QEMU args).
func startFirmware(t testing.TB, fw firmware, timeout time.Duration, reboot bool, devices ...string) *efiVM {
	t.Helper()
	for _, f := range []string{fw.code, fw.vars} {
		if _, err := os.Stat(f); err != nil {
			t.Fatalf("%v (make deps installs ovmf)", err)
		}
	}
	vars := filepath.Join(t.TempDir(), "OVMF_VARS.fd")
	data, err := os.ReadFile(fw.vars)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(vars, data, 0o644); err != nil {
		t.Fatal(err)
	}
	args := append(strings.Fields(os.Getenv("VMTEST_QEMU")), "-nographic",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+fw.code,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	if fw.secure {
		args = append(args, "-machine", "smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on")
	}
	args = append(args, devices...)
	if !reboot {
		args = append(args, "-no-reboot")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	v := &efiVM{t: t, cmd: exec.CommandContext(ctx, args[0], args[1:]...), all: &console{}, done: make(chan struct{})}
	if v.stdin, err = v.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	v.cmd.Stderr = v.cmd.Stdout
	if err := v.cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", args[0], err)
	}
	t.Logf("QEMU: %s", strings.Join(args, " "))
	go func() {
		r := bufio.NewReader(out)
		var line strings.Builder
		for {
			b, err := r.ReadByte()
			if err != nil {
				break
			}
			v.mu.Lock()
			v.buf.WriteByte(b)
			v.mu.Unlock()
			if b == '\n' {
				l := strings.TrimRight(line.String(), "\r")
				v.all.add(l)
				t.Logf("efi vm: %s", l)
				line.Reset()
			} else {
				line.WriteByte(b)
			}
		}
		v.err = v.cmd.Wait()
		cancel()
		close(v.done)
	}()
	t.Cleanup(func() { v.kill() })
	return v
}

// expect waits for each string in order in what the console printed
// since the last match.
func (v *efiVM) expect(want ...string) {
	v.t.Helper()
	for _, w := range want {
		v.until(w)
	}
}

// until waits for w and returns what was printed before it.
func (v *efiVM) until(w string) string {
	v.t.Helper()
	for {
		v.mu.Lock()
		s := v.buf.String()
		if i := strings.Index(s, w); i >= 0 {
			rest := s[i+len(w):]
			v.buf.Reset()
			v.buf.WriteString(rest)
			v.mu.Unlock()
			return s[:i]
		}
		v.mu.Unlock()
		select {
		case <-v.done:
			// The last of the output may have come in with the exit,
			// after the look above: look once more before failing.
			v.mu.Lock()
			found := strings.Contains(v.buf.String(), w)
			v.mu.Unlock()
			if found {
				continue
			}
			v.t.Fatalf("console never printed %q: QEMU exited (%v)", w, v.err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// line returns the rest of the current console line.
func (v *efiVM) line() string {
	v.t.Helper()
	return strings.TrimRight(v.until("\n"), "\r")
}

func (v *efiVM) send(s string) { io.WriteString(v.stdin, s) }

// sh types a command at the system's prompt and waits for its status.
func (v *efiVM) sh(cmd, status string) {
	v.t.Helper()
	v.send(cmd + "\r")
	v.expect("WBSYS-DONE "+status, "wbsys$ ")
}

// wait waits for QEMU to exit (the target powers off).
func (v *efiVM) wait() {
	v.t.Helper()
	<-v.done
	if v.err != nil {
		v.t.Errorf("QEMU: %v", v.err)
	}
}

func (v *efiVM) kill() {
	if v.cmd.Process != nil {
		v.cmd.Process.Kill()
	}
	<-v.done
}

// Under UEFI, after two kexecs (warmboot → system → warmboot → target),
// the target still finds the ACPI tables and the EFI runtime services
// (it lists EFI variables through them).
func TestSwapUEFI(t *testing.T) {
	parallel(t)
	swapSetup(t)
	d, part := systemDisk(grubESP(t))
	dimg := buildDisk(t, d)
	vm := startEFI(t, dimg, 5*time.Minute, false)
	vm.expect("WARMBOOT-SYSTEM-UP boot=1 entry=system by=warmboot", "wbsys$ ")
	vm.send("/usr/sbin/warmswap -entry target -grace 1s\r")
	vm.expect("warmswap: kexec", "WARMBOOT-TARGET-FIRMWARE ")
	line := vm.line()
	var efi, rmap bool
	var dsdt, vars int
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "efi=%t runtime_map=%t acpi_dsdt_bytes=%d efivars=%d", &efi, &rmap, &dsdt, &vars); err != nil {
		t.Fatalf("firmware line %q: %v", line, err)
	}
	if !efi || !rmap || dsdt == 0 || vars <= 0 {
		t.Errorf("after the swap: efi=%v runtime_map=%v acpi_dsdt_bytes=%d efivars=%d; want EFI with its runtime map, a DSDT and readable EFI variables", efi, rmap, dsdt, vars)
	}
	vm.expect(marker(cmdTarget))
	vm.wait()
	checkClean(t, rootFS(t, dimg, d, part))
}
