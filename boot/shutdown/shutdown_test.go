package shutdown

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fake is a machine: processes that react to signals, and mounts.
type fake struct {
	procs   map[int]*fproc
	mounts  []Mount
	busy    map[string]bool // unmount fails with EBUSY
	noRO    map[string]bool // remount read-only fails too
	clock   time.Duration
	log     []string
	signals []string
}

type fproc struct {
	Process
	ignoreTerm bool
	stuck      bool          // survives SIGKILL (D state)
	exitAfter  time.Duration // after SIGTERM
	termAt     time.Duration
	termed     bool
}

func (f *fake) Processes() ([]Process, error) {
	var out []Process
	for pid := 1; pid < 100; pid++ {
		p, ok := f.procs[pid]
		if !ok {
			continue
		}
		if p.termed && !p.ignoreTerm && f.clock >= p.termAt+p.exitAfter {
			delete(f.procs, pid)
			continue
		}
		out = append(out, p.Process)
	}
	return out, nil
}

func (f *fake) Signal(pid int, sig syscall.Signal) error {
	p, ok := f.procs[pid]
	if !ok {
		return syscall.ESRCH
	}
	f.signals = append(f.signals, p.Comm+":"+sig.String())
	switch sig {
	case syscall.SIGTERM:
		p.termed, p.termAt = true, f.clock
	case syscall.SIGKILL:
		if !p.stuck {
			delete(f.procs, pid)
		}
	}
	return nil
}

func (f *fake) Sync()                    { f.log = append(f.log, "sync") }
func (f *fake) Mounts() ([]Mount, error) { return append([]Mount(nil), f.mounts...), nil }
func (f *fake) Unmount(dir string) error {
	if f.busy[dir] || dir == "/" {
		return syscall.EBUSY
	}
	for i, m := range f.mounts {
		if m.Dir == dir {
			f.mounts = append(f.mounts[:i], f.mounts[i+1:]...)
			f.log = append(f.log, "umount "+dir)
			return nil
		}
	}
	return syscall.EINVAL
}
func (f *fake) RemountReadOnly(dir string) error {
	if f.noRO[dir] {
		return syscall.EBUSY
	}
	f.log = append(f.log, "ro "+dir)
	return nil
}
func (f *fake) Run(path string, args []string, _ time.Duration) ([]byte, error) {
	f.log = append(f.log, "run "+filepath.Base(path)+" "+args[0])
	if filepath.Base(path) == "20-fails" {
		return []byte("oops"), errors.New("exit status 1")
	}
	return nil, nil
}
func (f *fake) Sleep(d time.Duration) { f.clock += d }

func machine() *fake {
	ps := []*fproc{
		{Process: Process{PID: 1, Comm: "init"}},
		{Process: Process{PID: 2, Comm: "kthreadd", Kernel: true}},
		{Process: Process{PID: 10, Comm: "sshd"}, exitAfter: 300 * time.Millisecond},
		{Process: Process{PID: 11, Comm: "postgres"}, exitAfter: 2 * time.Second},
		{Process: Process{PID: 12, Comm: "stubborn"}, ignoreTerm: true},
		{Process: Process{PID: 13, Comm: "iscsid", Spared: true}},
		{Process: Process{PID: 14, Comm: "zombie", State: 'Z'}},
		{Process: Process{PID: 42, Comm: "warmswap"}},
	}
	f := &fake{procs: map[int]*fproc{}, busy: map[string]bool{}, noRO: map[string]bool{}}
	for _, p := range ps {
		if p.State == 0 {
			p.State = 'S'
		}
		f.procs[p.PID] = p
	}
	f.mounts = []Mount{
		{Dir: "/", FSType: "ext4", Source: "/dev/vda2"},
		{Dir: "/proc", FSType: "proc"},
		{Dir: "/sys", FSType: "sysfs"},
		{Dir: "/run", FSType: "tmpfs"},
		{Dir: "/boot", FSType: "ext4", Source: "/dev/vda1"},
		{Dir: "/boot/efi", FSType: "vfat", Source: "/dev/vda3"},
		{Dir: "/data", FSType: "xfs", Source: "/dev/vdb"},
		{Dir: "/media/cd", FSType: "iso9660", Source: "/dev/sr0", ReadOnly: true},
	}
	return f
}

func TestStopProcesses(t *testing.T) {
	f := machine()
	var r Report
	if err := StopProcesses(f, Options{Self: 42, Grace: time.Second}, &r); err != nil {
		t.Fatal(err)
	}
	want := []string{"sshd:terminated", "postgres:terminated", "stubborn:terminated", "postgres:killed", "stubborn:killed"}
	if diff := cmp.Diff(want, f.signals); diff != "" {
		t.Errorf("signals (-want +got):\n%s", diff)
	}
	if r.Terminated != 1 || r.Killed != 2 || len(r.Survivors) != 0 {
		t.Errorf("report = %+v, want 1 terminated, 2 killed, no survivors", r)
	}
	left, _ := f.Processes()
	var pids []int
	for _, p := range left {
		pids = append(pids, p.PID)
	}
	// init, the kernel thread, the spared storage daemon, the zombie and us.
	if diff := cmp.Diff([]int{1, 2, 13, 14, 42}, pids); diff != "" {
		t.Errorf("left running (-want +got):\n%s", diff)
	}
}

func TestStopProcessesGraceful(t *testing.T) {
	f := machine()
	delete(f.procs, 12)
	var r Report
	if err := StopProcesses(f, Options{Self: 42, Grace: 10 * time.Second}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Terminated != 2 || r.Killed != 0 {
		t.Errorf("report = %+v, want both to exit on SIGTERM", r)
	}
	if f.clock > 3*time.Second {
		t.Errorf("waited %s; the last process exited at 2s", f.clock)
	}
}

func TestStopProcessesSurvivor(t *testing.T) {
	f := machine()
	f.procs[12].stuck = true
	var r Report
	var said []string
	o := Options{Self: 42, Grace: time.Second, Say: func(format string, a ...any) { said = append(said, format) }}
	if err := StopProcesses(f, o, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Survivors) != 1 || r.Survivors[0].PID != 12 {
		t.Errorf("survivors = %v, want stubborn", r.Survivors)
	}
}

func TestUnmountAll(t *testing.T) {
	f := machine()
	f.busy["/data"] = true
	var r Report
	if err := UnmountAll(f, Options{}, &r); err != nil {
		t.Fatal(err)
	}
	// Deepest first; /data is busy and / cannot be unmounted: both are
	// made read-only; the read-only CD needs nothing more.
	want := []string{"sync", "umount /media/cd", "umount /boot/efi", "umount /boot", "sync", "ro /data", "ro /", "sync"}
	if diff := cmp.Diff(want, f.log); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
}

func TestUnmountAllCannotRemount(t *testing.T) {
	f := machine()
	f.busy["/data"], f.noRO["/data"] = true, true
	var r Report
	if err := UnmountAll(f, Options{}, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Errors) != 1 || !errors.Is(r.Errors[0], syscall.EBUSY) {
		t.Fatalf("errors = %v, want one EBUSY for /data", r.Errors)
	}
	if got := r.Errors[0].Error(); got != "/data (xfs on /dev/vdb): could not unmount or remount read-only: device or resource busy" {
		t.Errorf("error = %q", got)
	}
}

func TestTeardown(t *testing.T) {
	dir := t.TempDir()
	for name, mode := range map[string]os.FileMode{"10-unbind-usb": 0o755, "20-fails": 0o755, "README~": 0o644, ".hidden": 0o644} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	exes, err := Teardown(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Join(dir, "10-unbind-usb"), filepath.Join(dir, "20-fails")}, exes); diff != "" {
		t.Errorf("Teardown (-want +got):\n%s", diff)
	}
	f := machine()
	errs := RunTeardown(f, Options{}, exes)
	if len(errs) != 1 {
		t.Errorf("errors = %v, want the one that fails", errs)
	}
	if diff := cmp.Diff([]string{"run 10-unbind-usb kexec", "run 20-fails kexec"}, f.log); diff != "" {
		t.Errorf("ran (-want +got):\n%s", diff)
	}

	if err := os.WriteFile(filepath.Join(dir, "30-not-exec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Teardown(dir); err == nil {
		t.Error("Teardown accepted a file that is not executable")
	}
	if exes, err := Teardown(filepath.Join(dir, "missing")); err != nil || exes != nil {
		t.Errorf("Teardown(missing) = %v, %v; want none", exes, err)
	}
}
