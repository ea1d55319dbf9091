package shutdown

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/mountinfo"
)

// System is what shutdown does to the machine. Real implements it.
type System interface {
	// Processes lists /proc.
	Processes() ([]Process, error)
	// Signal sends sig to pid.
	Signal(pid int, sig syscall.Signal) error
	// Sync is sync(2).
	Sync()
	// Mounts lists /proc/self/mountinfo, in its order.
	Mounts() ([]Mount, error)
	// Unmount unmounts dir.
	Unmount(dir string) error
	// RemountReadOnly remounts dir read-only.
	RemountReadOnly(dir string) error
	// Run runs an executable with a time limit, returning its output.
	Run(path string, args []string, limit time.Duration) ([]byte, error)
	// Sleep waits (a fake advances its clock).
	Sleep(d time.Duration)
}

// Options tune Stop.
type Options struct {
	// Self is the caller's PID, never signalled (kill(2) never signals
	// PID 1 without its consent anyway; it is skipped too).
	Self int
	// Grace is how long processes have to exit after SIGTERM (default 10s).
	Grace time.Duration
	// KillWait is how long to wait after SIGKILL (default 5s).
	KillWait time.Duration
	// Log reports progress; nil discards.
	Log *slog.Logger
}

func (o *Options) defaults() {
	if o.Grace == 0 {
		o.Grace = 10 * time.Second
	}
	if o.KillWait == 0 {
		o.KillWait = 5 * time.Second
	}
	o.Log = clog.Or(o.Log)
}

// poll is how often processes are re-listed while waiting.
const poll = 100 * time.Millisecond

// Report is what Stop did.
type Report struct {
	Terminated int       // processes that exited after SIGTERM
	Killed     int       // processes sent SIGKILL
	Survivors  []Process // still there after SIGKILL (stuck in D state)
	Unmounted  []string
	ReadOnly   []string // remounted read-only instead
	// Errors are filesystems that could be neither unmounted nor made
	// read-only: their data was synced, but their journal is dirty.
	Errors []error
}

// targets are the processes Stop signals.
func targets(s System, self int) ([]Process, error) {
	ps, err := s.Processes()
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, p := range ps {
		if p.PID == 1 || p.PID == self || p.Kernel || p.Spared || p.State == 'Z' || p.State == 'X' {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// signalAll signals every target, re-listing until a pass finds no new
// process (one forked between listing and signalling is caught next pass).
func signalAll(s System, self int, sig syscall.Signal, done map[int]bool) (int, error) {
	n := 0
	for pass := 0; pass < 10; pass++ {
		ps, err := targets(s, self)
		if err != nil {
			return n, err
		}
		fresh := 0
		for _, p := range ps {
			if done[p.PID] {
				continue
			}
			done[p.PID] = true
			fresh++
			// ESRCH: it exited meanwhile, which is what we want.
			_ = s.Signal(p.PID, sig)
		}
		n += fresh
		if fresh == 0 {
			break
		}
	}
	return n, nil
}

// wait polls until no target is left or limit passes; it returns those left.
func wait(s System, self int, limit time.Duration) ([]Process, error) {
	for waited := time.Duration(0); ; waited += poll {
		ps, err := targets(s, self)
		if err != nil || len(ps) == 0 || waited >= limit {
			return ps, err
		}
		s.Sleep(poll)
	}
}

// StopProcesses ends every process but PID 1 and the caller: SIGTERM,
// the grace period, SIGKILL.
func StopProcesses(s System, o Options, r *Report) error {
	o.defaults()
	n, err := signalAll(s, o.Self, syscall.SIGTERM, map[int]bool{})
	if err != nil {
		return fmt.Errorf("listing processes: %w", err)
	}
	clog.Infof(o.Log, "sent SIGTERM to %d processes; waiting up to %s for them to exit", n, o.Grace)
	left, err := wait(s, o.Self, o.Grace)
	if err != nil {
		return fmt.Errorf("listing processes: %w", err)
	}
	r.Terminated = n - len(left)
	if len(left) == 0 {
		return nil
	}
	clog.Infof(o.Log, "%d processes still running after %s: %s; sending SIGKILL", len(left), o.Grace, names(left))
	k, err := signalAll(s, o.Self, syscall.SIGKILL, map[int]bool{})
	if err != nil {
		return fmt.Errorf("listing processes: %w", err)
	}
	r.Killed = k
	if r.Survivors, err = wait(s, o.Self, o.KillWait); err != nil {
		return fmt.Errorf("listing processes: %w", err)
	}
	if len(r.Survivors) > 0 {
		// Uninterruptible sleep: usually I/O to a device that went away.
		// Going on is still right: their files are synced below.
		clog.Warnf(o.Log, "%d processes survived SIGKILL (uninterruptible I/O): %s", len(r.Survivors), names(r.Survivors))
	}
	return nil
}

func names(ps []Process) string {
	var s []string
	for i, p := range ps {
		if i == 8 {
			s = append(s, fmt.Sprintf("and %d more", len(ps)-i))
			break
		}
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// depth orders mount points deepest first.
func depth(dir string) int {
	if dir == "/" {
		return 0
	}
	return strings.Count(dir, "/")
}

// UnmountAll syncs, then unmounts every filesystem with a backing store,
// deepest first, in rounds; what stays mounted is remounted read-only.
func UnmountAll(s System, o Options, r *Report) error {
	o.defaults()
	s.Sync()
	done := map[string]bool{}
	for round := 0; round < 4; round++ {
		ms, err := s.Mounts()
		if err != nil {
			return fmt.Errorf("listing mounts: %w", err)
		}
		var todo []Mount
		for i := len(ms) - 1; i >= 0; i-- {
			m := ms[i]
			if !mountinfo.Virtual(m.FSType) && m.Dir != "/" && !done[m.Dir] {
				todo = append(todo, m)
			}
		}
		sort.SliceStable(todo, func(i, j int) bool { return depth(todo[i].Dir) > depth(todo[j].Dir) })
		progress := false
		for _, m := range todo {
			if err := s.Unmount(m.Dir); err == nil {
				r.Unmounted = append(r.Unmounted, m.Dir)
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	s.Sync()
	ms, err := s.Mounts()
	if err != nil {
		return fmt.Errorf("listing mounts: %w", err)
	}
	// What is left: / and whatever stayed busy. Deepest first again, so a
	// child is read-only before its parent.
	var left []Mount
	for _, m := range ms {
		if !mountinfo.Virtual(m.FSType) {
			left = append(left, m)
		}
	}
	sort.SliceStable(left, func(i, j int) bool { return depth(left[i].Dir) > depth(left[j].Dir) })
	seen := map[string]bool{}
	for _, m := range left {
		if seen[m.Dir] {
			continue // stacked mounts: the top one is what the path reaches
		}
		seen[m.Dir] = true
		if m.ReadOnly {
			continue
		}
		if err := s.RemountReadOnly(m.Dir); err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("%s (%s on %s): could not unmount or remount read-only: %w", m.Dir, m.FSType, m.Source, err))
			continue
		}
		r.ReadOnly = append(r.ReadOnly, m.Dir)
	}
	s.Sync()
	clog.Infof(o.Log, "unmounted %d filesystems; remounted read-only: %s", len(r.Unmounted), strings.Join(r.ReadOnly, " "))
	for _, err := range r.Errors {
		clog.Warnf(o.Log, "%v", err)
	}
	return nil
}

// TeardownLimit bounds each teardown executable.
const TeardownLimit = 30 * time.Second

// Teardown lists the executables in dir, in name order. A missing
// directory has none; a file that is not executable is an error naming
// it, found before anything is stopped.
func Teardown(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if st.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasSuffix(e.Name(), "~") {
			continue
		}
		if st.Mode()&0o111 == 0 {
			return nil, fmt.Errorf("%s is not executable: chmod +x it, or remove it from %s", p, dir)
		}
		out = append(out, p)
	}
	return out, nil
}

// RunTeardown runs each executable with the argument "kexec" (as systemd
// runs its system-shutdown hooks). A failure is reported, not fatal:
// stopping now would leave a machine with no processes and no kexec.
func RunTeardown(s System, o Options, exes []string) []error {
	o.defaults()
	var errs []error
	for _, p := range exes {
		out, err := s.Run(p, []string{"kexec"}, TeardownLimit)
		if len(out) > 0 {
			clog.Infof(o.Log, "%s: %s", filepath.Base(p), strings.TrimSpace(string(out)))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("teardown %s: %w", p, err))
			clog.Warnf(o.Log, "teardown %s: %v", p, err)
		}
	}
	return errs
}
