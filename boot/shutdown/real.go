package shutdown

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/mountinfo"
)

// Real is the machine. Proc is the proc mount ("/proc" when empty).
type Real struct{ Proc string }

func (r Real) proc() string {
	if r.Proc == "" {
		return "/proc"
	}
	return r.Proc
}

// Processes implements System.
func (r Real) Processes() ([]Process, error) {
	ents, err := os.ReadDir(r.proc())
	if err != nil {
		return nil, err
	}
	var out []Process
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(r.proc(), e.Name(), "stat"))
		if err != nil {
			continue // exited while listing
		}
		p, err := ParseStat(data)
		if err != nil {
			return nil, fmt.Errorf("%s/%s/stat: %w", r.proc(), e.Name(), err)
		}
		if !p.Kernel {
			if argv, err := os.ReadFile(filepath.Join(r.proc(), e.Name(), "cmdline")); err == nil && len(argv) > 0 && argv[0] == '@' {
				p.Spared = true
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// Signal implements System.
func (Real) Signal(pid int, sig syscall.Signal) error { return sys.Kill(pid, sig) }

// Sync implements System.
func (Real) Sync() { sys.Sync() }

// Mounts implements System.
func (r Real) Mounts() ([]Mount, error) {
	data, err := os.ReadFile(filepath.Join(r.proc(), "self/mountinfo"))
	if err != nil {
		return nil, err
	}
	return mountinfo.Parse(data)
}

// Unmount implements System.
func (Real) Unmount(dir string) error { return sys.Unmount(dir, 0) }

// RemountReadOnly implements System.
func (Real) RemountReadOnly(dir string) error { return sys.RemountReadOnly(dir) }

// Run implements System.
func (Real) Run(path string, args []string, limit time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, args...).CombinedOutput()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return out, fmt.Errorf("killed after %s", limit)
	}
	return out, err
}

// Sleep implements System.
func (Real) Sleep(d time.Duration) { time.Sleep(d) }
