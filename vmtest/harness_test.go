package vmtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/images/disk"
)

var (
	kernel  string // bzImage
	image   string // warmboot initramfs
	release string
	target  string // target initramfs, built once
)

func TestMain(m *testing.M) {
	if addr := os.Getenv("WARMBOOT_FWD"); addr != "" {
		// QEMU's guestfwd started this binary for one guest connection
		// (netServer.nic): join it to the test's server.
		os.Exit(forward(addr))
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var missing []string
	for _, v := range []string{"VMTEST_QEMU", "VMTEST_KERNEL", "WARMBOOT_IMAGE", "WARMBOOT_KERNEL_DIR", "WARMBOOT_PAYLOAD", "WARMBOOT_PAYLOAD_IMAGE", "WARMBOOT_DEB", "WARMBOOT_DEBIAN", "WARMBOOT_TRIXIE", "WARMBOOT_UKIFY"} {
		if os.Getenv(v) == "" {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "vmtest: %s not set: run the VM tests with make vmtest (or make test), which builds and sets everything\n", strings.Join(missing, ", "))
		return 1
	}
	kernel, image = os.Getenv("VMTEST_KERNEL"), os.Getenv("WARMBOOT_IMAGE")
	ukifyRoot = filepath.Join(os.Getenv("WARMBOOT_UKIFY"), "root")
	payload, payloadImage = os.Getenv("WARMBOOT_PAYLOAD"), os.Getenv("WARMBOOT_PAYLOAD_IMAGE")
	qemuBin := strings.Fields(os.Getenv("VMTEST_QEMU"))[0]
	if _, err := exec.LookPath(qemuBin); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: %s not found: make deps installs qemu-system-x86\n", qemuBin)
		return 1
	}
	for _, f := range []string{kernel, image, payload, payloadImage} {
		if _, err := os.Stat(f); err != nil {
			fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
			return 1
		}
	}
	rel, err := os.ReadFile(filepath.Join(os.Getenv("WARMBOOT_KERNEL_DIR"), "release"))
	if err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		return 1
	}
	release = strings.TrimSpace(string(rel))
	tmp, err := os.MkdirTemp("", "warmboot-vmtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	target = filepath.Join(tmp, "target.img")
	if err := disk.TargetInitramfs(context.Background(), "..", target); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		return 1
	}
	if err := trustImages(tmp); err != nil {
		fmt.Fprintf(os.Stderr, "vmtest: %v\n", err)
		return 1
	}
	return m.Run()
}

// marker is the line the target prints for a command line.
func marker(cmdline string) string { return "WARMBOOT-TARGET-OK cmdline=" + cmdline }

// bootFS returns a one-partition disk: an ext4 /boot holding the kernel at
// /vmlinuz, the target at /target.img, and files.
func bootFS(files map[string]string) disk.Disk {
	fs := disk.FS{Type: "ext4", Label: "boot", SizeMiB: 24, Files: map[string]disk.File{
		"/vmlinuz":    {Src: kernel},
		"/target.img": {Src: target},
	}}
	for name, data := range files {
		fs.Files[name] = disk.File{Data: []byte(data)}
	}
	return disk.Disk{Parts: []disk.FS{fs}}
}

// buildDisk writes d to a disk image in the test's directory.
func buildDisk(t testing.TB, d disk.Disk) string {
	t.Helper()
	dimg := filepath.Join(t.TempDir(), "disk.img")
	if err := disk.Build(context.Background(), dimg, d); err != nil {
		t.Fatalf("building the test disk: %v", err)
	}
	return dimg
}

// startVM builds d and boots the warmboot image with it attached.
func startVM(t *testing.T, d disk.Disk, img string, kernelArgs string) *qemu.VM {
	t.Helper()
	dimg := buildDisk(t, d)
	return bootVM(t, img, kernelArgs, "-drive", "file="+dimg+",if=virtio,format=raw")
}

// bootVM boots the image img with the given kernel arguments and QEMU
// arguments (the disks, their controllers and devices).
func bootVM(t *testing.T, img, kernelArgs string, qemuArgs ...string) *qemu.VM {
	t.Helper()
	return qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(img),
		qemu.WithAppendKernel("console=ttyS0 quiet "+kernelArgs),
		qemu.WithVMTimeout(4*time.Minute),
		qemu.ArbitraryArgs(append([]string{"-no-reboot"}, qemuArgs...)...),
	)
}

// expect waits for each string in order, failing the test with the
// missing one.
func expect(t testing.TB, vm *qemu.VM, want ...string) {
	t.Helper()
	for _, w := range want {
		if _, err := vm.Console.ExpectString(w); err != nil {
			t.Fatalf("console never printed %q: %v", w, err)
		}
	}
}

// finish waits for the VM to power off (the target does) or kills it.
func finish(t testing.TB, vm *qemu.VM, poweroff bool) {
	t.Helper()
	if !poweroff {
		vm.Kill()
		vm.Wait()
		return
	}
	if err := vm.Wait(); err != nil {
		t.Errorf("VM exit: %v", err)
	}
}

// shellWorks checks that, nothing booting, the bootloader offers its
// rescue shell before it would reboot, that a key on the console starts
// it, and that it answers; then stops the VM.
func shellWorks(t *testing.T, vm *qemu.VM) {
	t.Helper()
	expect(t, vm, "warmboot: press any key for a rescue shell; no console input for 300s: rebooting (warmboot.rescue=0 waits forever)")
	vm.Console.Send("\r")
	expect(t, vm, "warmboot: starting a shell (/bin/sh)", "$ ")
	vm.Console.Send("echo shell-$((6*7))\r")
	expect(t, vm, "shell-42")
	finish(t, vm, false)
}

// parallel lets the test run beside others, in one of WARMBOOT_VMPAR VM
// slots (make vmtest's VMPAR; 1 runs them one by one). Each test has its
// own disks and scratch files; what they share (the kernel, the images,
// the cached Debian system under a copy-on-write overlay) is only read.
//
// go test starts parallel tests in whatever order their goroutines win a
// lock, so a 15-minute test could start last and run alone at the end.
// The slots are handed out longest test first instead (longest processing
// time first: runtimes, the last cold make test's, in README), which
// shortens make test by minutes; make vmtest sets -parallel high so that
// go test itself holds nothing back.
func parallel(t *testing.T) {
	vmSlots.register()
	t.Parallel()
	waited := vmSlots.acquire(t.Name())
	start := time.Now()
	t.Cleanup(func() {
		vmSlots.release()
		t.Logf("ran %.1fs in a VM slot, after waiting %.1fs for one", time.Since(start).Seconds(), waited.Seconds())
	})
}

// runtimes are the tests that take longest, in seconds (the rest ~30).
var runtimes = map[string]int{
	"TestDebianGRUBFallback": 803, "TestDebian": 672, "TestTrixie": 652, "TestSwapSoak": 282, "TestTrialFallback": 253,
	"TestBLSBootCounting": 93, "TestSwapUEFI": 67, "TestImageReproducible": 64, "TestSwapKernel": 62,
	"TestSwapEntry": 61, "TestGRUBNextEntry": 48, "TestSwapDirect": 42, "TestSwapPayload": 40,
}

var vmSlots = newSlots()

// slots hands VM slots to waiting tests, longest first. Until every test
// that registered is waiting (or a second has passed: go test may hold
// some back), none starts, so the longest are among those waiting.
type slots struct {
	mu         sync.Mutex
	cond       *sync.Cond
	free       int
	registered int
	waiting    []string
	armed      bool // the one-second timer runs
	settled    bool
}

func newSlots() *slots {
	n, err := strconv.Atoi(os.Getenv("WARMBOOT_VMPAR"))
	if err != nil || n < 1 {
		n = 1
	}
	s := &slots{free: n}
	s.cond = sync.NewCond(&s.mu)
	return s
}

func (s *slots) register() {
	s.mu.Lock()
	s.registered++
	s.mu.Unlock()
}

func (s *slots) acquire(name string) time.Duration {
	begin := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.armed {
		s.armed = true
		time.AfterFunc(time.Second, func() {
			s.mu.Lock()
			s.settled = true
			s.cond.Broadcast()
			s.mu.Unlock()
		})
	}
	s.waiting = append(s.waiting, name)
	s.cond.Broadcast()
	for !(s.free > 0 && (s.settled || len(s.waiting) == s.registered) && s.next() == name) {
		s.cond.Wait()
	}
	s.settled = true
	s.waiting = slices.DeleteFunc(s.waiting, func(w string) bool { return w == name })
	s.free--
	s.cond.Broadcast()
	return time.Since(begin)
}

// next is the waiting test to start: the longest, then by name.
func (s *slots) next() string {
	best := ""
	for _, w := range s.waiting {
		if best == "" || runtimes[w] > runtimes[best] || runtimes[w] == runtimes[best] && w < best {
			best = w
		}
	}
	return best
}

func (s *slots) release() {
	s.mu.Lock()
	s.free++
	s.registered--
	s.cond.Broadcast()
	s.mu.Unlock()
}
