// Package shutdowntest is a recording fake of shutdown.System.
package shutdowntest

import (
	"errors"
	"path/filepath"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/shutdown"
)

// Fake is a machine for shutdown.System: processes that react to
// signals as told, and mounts, on a clock that Sleep advances.
type Fake struct {
	Procs     map[int]*Proc
	MountList []shutdown.Mount
	Busy      map[string]bool // unmount fails with EBUSY
	NoRO      map[string]bool // remount read-only fails too
	Clock     time.Duration
	// Log records sync, umount, ro and run; Signals "comm:signal".
	Log     []string
	Signals []string
}

// Proc is a process of a Fake.
type Proc struct {
	shutdown.Process
	IgnoreTerm bool
	Stuck      bool          // survives SIGKILL (D state)
	ExitAfter  time.Duration // after SIGTERM
	termAt     time.Duration
	termed     bool
}

func (f *Fake) Processes() ([]shutdown.Process, error) {
	var out []shutdown.Process
	for pid := 1; pid < 100; pid++ {
		p, ok := f.Procs[pid]
		if !ok {
			continue
		}
		if p.termed && !p.IgnoreTerm && f.Clock >= p.termAt+p.ExitAfter {
			delete(f.Procs, pid)
			continue
		}
		out = append(out, p.Process)
	}
	return out, nil
}

func (f *Fake) Signal(pid int, sig syscall.Signal) error {
	p, ok := f.Procs[pid]
	if !ok {
		return syscall.ESRCH
	}
	f.Signals = append(f.Signals, p.Comm+":"+sig.String())
	switch sig {
	case syscall.SIGTERM:
		p.termed, p.termAt = true, f.Clock
	case syscall.SIGKILL:
		if !p.Stuck {
			delete(f.Procs, pid)
		}
	}
	return nil
}

func (f *Fake) Sync() { f.Log = append(f.Log, "sync") }
func (f *Fake) Mounts() ([]shutdown.Mount, error) {
	return append([]shutdown.Mount(nil), f.MountList...), nil
}
func (f *Fake) Unmount(dir string) error {
	if f.Busy[dir] || dir == "/" {
		return syscall.EBUSY
	}
	for i, m := range f.MountList {
		if m.Dir == dir {
			f.MountList = append(f.MountList[:i], f.MountList[i+1:]...)
			f.Log = append(f.Log, "umount "+dir)
			return nil
		}
	}
	return syscall.EINVAL
}
func (f *Fake) RemountReadOnly(dir string) error {
	if f.NoRO[dir] {
		return syscall.EBUSY
	}
	f.Log = append(f.Log, "ro "+dir)
	return nil
}

// Run records the executable; one named 20-fails fails.
func (f *Fake) Run(path string, args []string, _ time.Duration) ([]byte, error) {
	f.Log = append(f.Log, "run "+filepath.Base(path)+" "+args[0])
	if filepath.Base(path) == "20-fails" {
		return []byte("oops"), errors.New("exit status 1")
	}
	return nil, nil
}

// Sleep advances the clock.
func (f *Fake) Sleep(d time.Duration) { f.Clock += d }

// New is a server: init, a kernel thread, services that exit at once, late
// or never, a spared storage daemon, a zombie, warmswap itself (PID 42),
// and its filesystems (/, /boot, /boot/efi, /data, a CD).
func New() *Fake {
	ps := []*Proc{
		{Process: shutdown.Process{PID: 1, Comm: "init"}},
		{Process: shutdown.Process{PID: 2, Comm: "kthreadd", Kernel: true}},
		{Process: shutdown.Process{PID: 10, Comm: "sshd"}, ExitAfter: 300 * time.Millisecond},
		{Process: shutdown.Process{PID: 11, Comm: "postgres"}, ExitAfter: 2 * time.Second},
		{Process: shutdown.Process{PID: 12, Comm: "stubborn"}, IgnoreTerm: true},
		{Process: shutdown.Process{PID: 13, Comm: "iscsid", Spared: true}},
		{Process: shutdown.Process{PID: 14, Comm: "zombie", State: 'Z'}},
		{Process: shutdown.Process{PID: 42, Comm: "warmswap"}},
	}
	f := &Fake{Procs: map[int]*Proc{}, Busy: map[string]bool{}, NoRO: map[string]bool{}}
	for _, p := range ps {
		if p.State == 0 {
			p.State = 'S'
		}
		f.Procs[p.PID] = p
	}
	f.MountList = []shutdown.Mount{
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
