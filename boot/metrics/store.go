package metrics

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/warmboot/warmboot/boot/state"
)

// CountsFile keeps Counts across restarts, on the running system.
const CountsFile = "/var/lib/warmboot/metrics.json"

// ConfigFile, when it exists, names the textfile directory (one line),
// or "off" for none.
const ConfigFile = "/etc/warmboot/metrics-dir"

// Dir is the textfile directory of the system under root, "" for none:
// ConfigFile's, else DefaultDir.
func Dir(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, ConfigFile))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return DefaultDir, nil
	case err != nil:
		return DefaultDir, err
	}
	d := strings.TrimSpace(string(b))
	switch {
	case d == "off":
		return "", nil
	case !filepath.IsAbs(d) || strings.ContainsRune(d, 0x0a):
		return DefaultDir, fmt.Errorf("%s: %q is not an absolute directory (or off)", ConfigFile, d)
	}
	return filepath.Clean(d), nil
}

// Load reads root's counts; none are zero counts.
func Load(root string) (Counts, error) {
	c := Counts{Version: Version}
	f, err := os.Open(filepath.Join(root, CountsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return c, err
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return c, fmt.Errorf("%s: %v (counting starts again from zero)", CountsFile, err)
	}
	if v.Version != Version {
		return c, fmt.Errorf("%s: version %d (this reads %d; counting starts again from zero)", CountsFile, v.Version, Version)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return Counts{Version: Version}, fmt.Errorf("%s: %v (counting starts again from zero)", CountsFile, err)
	}
	return c, nil
}

// Save replaces root's counts atomically (state.Write).
func Save(root string, c Counts) error {
	c.Version = Version
	return state.WriteJSON(filepath.Join(root, CountsFile), c)
}

// Update applies f to root's counts, keeps them, and writes the textfile
// into the configured directory (Dir) when it exists (node_exporter is
// installed). It returns the textfile written, "" for none. A count that
// cannot be read starts again from zero, and says so in the error, as
// does a file that cannot be written; the counts f made are kept where
// they can be.
func Update(root string, f func(*Counts)) (string, error) {
	// warmswap and bless may count at once (an orchestrator's swap while
	// the bless unit waits for devices): one at a time.
	if unlock, err := lock(root); err == nil {
		defer unlock()
	}
	c, lerr := Load(root)
	f(&c)
	errs := []error{lerr}
	if err := Save(root, c); err != nil {
		errs = append(errs, fmt.Errorf("keeping the counts: %w", err))
	}
	dir, err := Dir(root)
	errs = append(errs, err)
	written := ""
	if dir != "" {
		d := filepath.Join(root, dir)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			if err := Write(d, c); err != nil {
				errs = append(errs, err)
			} else {
				written = filepath.Join(dir, File)
			}
		}
	}
	return written, errors.Join(errs...)
}

// Seconds is the duration from a to b in seconds, never below zero (a
// clock set back across a restart).
func Seconds(a, b time.Time) float64 {
	if d := b.Sub(a); d > 0 {
		return d.Seconds()
	}
	return 0
}

// Seen is what "warmboot bless" sees of the boot it blesses.
type Seen struct {
	Now time.Time
	// KernelStart is when the running kernel started (now less its
	// uptime).
	KernelStart time.Time
	// Entry and Kernel name what runs (entry id, uname -r).
	Entry, Kernel string
	// Bootloader is the seconds warmboot spent before its kexec (its
	// timeline in booted.json) and Handoff when the handoff that asked
	// for this boot was written; zero when warmboot was not re-entered.
	Bootloader float64
	Handoff    time.Time
	// TrialAt and FailureSeen are the boot state's last trial start
	// and last trial failure.
	TrialAt, FailureSeen time.Time
	// DeviceLost: the device check of this boot failed.
	DeviceLost bool
}

// Observe counts what a bless sees: the running entry, a trial started
// and a fallback taken since the last bless (each once), a device check
// failed, and, once the restart warmswap started has come up, its
// phases: checks (warmswap's, before anything stopped), stop_to_kernel
// (services stopping to the new kernel's start, which the kernel's
// clock, read from the RTC after a kexec, knows to a second),
// bootloader (warmboot re-entered, part of stop_to_kernel),
// kernel_to_bless, and total (services stopping to this bless).
func (c *Counts) Observe(s Seen) {
	c.Entry, c.Kernel = s.Entry, s.Kernel
	if !s.TrialAt.IsZero() && s.TrialAt.After(c.TrialSeen) {
		c.Trials++
		c.TrialSeen = s.TrialAt
	}
	if !s.FailureSeen.IsZero() && s.FailureSeen.After(c.FailureSeen) {
		c.Fallbacks++
		c.FailureSeen = s.FailureSeen
	}
	if s.DeviceLost {
		c.DeviceChecks++
	}
	p := c.Pending
	if p == nil {
		return
	}
	// A new kernel: started after the services began to stop (a second
	// of slack for the RTC's resolution). A soft reboot keeps the kernel.
	restarted := p.Path == "soft" || s.KernelStart.After(p.Stopping.Add(-2*time.Second))
	if !restarted || s.Now.Before(p.Stopping) {
		return
	}
	c.LastSwap = map[string]float64{
		"checks": Seconds(p.Began, p.Stopping),
		"total":  Seconds(p.Stopping, s.Now),
	}
	if p.Path != "soft" {
		c.LastSwap["stop_to_kernel"] = Seconds(p.Stopping, s.KernelStart)
		c.LastSwap["kernel_to_bless"] = Seconds(s.KernelStart, s.Now)
		if s.Bootloader > 0 && !s.Handoff.Before(p.Began.Add(-time.Second)) {
			c.LastSwap["bootloader"] = s.Bootloader
		}
	}
	c.Pending = nil
}

// Started records a restart warmswap hands over to the shutdown now.
func (c *Counts) Started(path string, began, now time.Time) {
	if c.Restarts == nil {
		c.Restarts = map[string]uint64{}
	}
	c.Restarts[path]++
	c.Pending = &Pending{Path: path, Began: began, Stopping: now}
}

// Abandon takes back the restart Started recorded, which did not happen
// (systemctl refused it).
func (c *Counts) Abandon() {
	if p := c.Pending; p != nil {
		if c.Restarts[p.Path] > 0 {
			c.Restarts[p.Path]--
		}
		c.Pending = nil
	}
}

// lock holds an exclusive lock on the counts (flock on a file beside
// them) until unlock.
func lock(root string) (unlock func(), err error) {
	p := filepath.Join(root, CountsFile+".lock")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { f.Close() }, nil
}
