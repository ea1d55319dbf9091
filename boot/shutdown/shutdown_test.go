package shutdown_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/shutdown"

	"github.com/warmboot/warmboot/boot/shutdown/shutdowntest"

	"github.com/warmboot/warmboot/boot/clog"

	"github.com/google/go-cmp/cmp"
)

func TestStopProcesses(t *testing.T) {
	f := shutdowntest.New()
	var r shutdown.Report
	if err := shutdown.StopProcesses(f, shutdown.Options{Self: 42, Grace: time.Second}, &r); err != nil {
		t.Fatal(err)
	}
	want := []string{"sshd:terminated", "postgres:terminated", "stubborn:terminated", "postgres:killed", "stubborn:killed"}
	if diff := cmp.Diff(want, f.Signals); diff != "" {
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
	f := shutdowntest.New()
	delete(f.Procs, 12)
	var r shutdown.Report
	if err := shutdown.StopProcesses(f, shutdown.Options{Self: 42, Grace: 10 * time.Second}, &r); err != nil {
		t.Fatal(err)
	}
	if r.Terminated != 2 || r.Killed != 0 {
		t.Errorf("report = %+v, want both to exit on SIGTERM", r)
	}
	if f.Clock > 3*time.Second {
		t.Errorf("waited %s; the last process exited at 2s", f.Clock)
	}
}

func TestStopProcessesSurvivor(t *testing.T) {
	f := shutdowntest.New()
	f.Procs[12].Stuck = true
	var r shutdown.Report
	var said bytes.Buffer
	o := shutdown.Options{Self: 42, Grace: time.Second, Log: clog.New(&said, "warmswap")}
	if err := shutdown.StopProcesses(f, o, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Survivors) != 1 || r.Survivors[0].PID != 12 {
		t.Errorf("survivors = %v, want stubborn", r.Survivors)
	}
	if want := "warmswap: warning: 1 processes survived SIGKILL (uninterruptible I/O): 12 (stubborn)\n"; !strings.Contains(said.String(), want) {
		t.Errorf("said:\n%s\nwant a line %q", said.String(), want)
	}
}

func TestUnmountAll(t *testing.T) {
	f := shutdowntest.New()
	f.Busy["/data"] = true
	var r shutdown.Report
	if err := shutdown.UnmountAll(f, shutdown.Options{}, &r); err != nil {
		t.Fatal(err)
	}
	// Deepest first; /data is busy and / cannot be unmounted: both are
	// made read-only; the read-only CD needs nothing more.
	want := []string{"sync", "umount /media/cd", "umount /boot/efi", "umount /boot", "sync", "ro /data", "ro /", "sync"}
	if diff := cmp.Diff(want, f.Log); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	if len(r.Errors) != 0 {
		t.Errorf("errors: %v", r.Errors)
	}
}

func TestUnmountAllCannotRemount(t *testing.T) {
	f := shutdowntest.New()
	f.Busy["/data"], f.NoRO["/data"] = true, true
	var r shutdown.Report
	if err := shutdown.UnmountAll(f, shutdown.Options{}, &r); err != nil {
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
	exes, err := shutdown.Teardown(dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{filepath.Join(dir, "10-unbind-usb"), filepath.Join(dir, "20-fails")}, exes); diff != "" {
		t.Errorf("shutdown.Teardown (-want +got):\n%s", diff)
	}
	f := shutdowntest.New()
	errs := shutdown.RunTeardown(f, shutdown.Options{}, exes)
	if len(errs) != 1 {
		t.Errorf("errors = %v, want the one that fails", errs)
	}
	if diff := cmp.Diff([]string{"run 10-unbind-usb kexec", "run 20-fails kexec"}, f.Log); diff != "" {
		t.Errorf("ran (-want +got):\n%s", diff)
	}

	if err := os.WriteFile(filepath.Join(dir, "30-not-exec"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := shutdown.Teardown(dir); err == nil {
		t.Error("shutdown.Teardown accepted a file that is not executable")
	}
	if exes, err := shutdown.Teardown(filepath.Join(dir, "missing")); err != nil || exes != nil {
		t.Errorf("shutdown.Teardown(missing) = %v, %v; want none", exes, err)
	}
}
