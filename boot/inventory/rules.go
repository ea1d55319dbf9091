package inventory

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// RulesFile is where an operator sets the device check's rules, one per
// line ("#" starts a comment):
//
//	ignore net/wl*        a loss whose ID matches does not count (path.Match:
//	ignore input/*        pci/ADDRESS, net/NAME, block/NAME, input/NAME; the
//	                      rest of the line, spaces and all)
//	carrier no            a link that lost its carrier counts only if it is gone
//	wait 60s              how long devices get to come back (default 30s, at most 10m)
//	check off             no device check
const RulesFile = "/etc/warmboot/device-check"

// DefaultWait is Rules.Wait when the file does not set it.
const DefaultWait = 30 * time.Second

// maxWait bounds wait: the check runs before the boot is blessed, and a
// trial's watchdog deadline runs meanwhile.
const maxWait = 10 * time.Minute

// ReadRules reads root's RulesFile; none gives the defaults.
func ReadRules(root string) (Rules, error) {
	b, err := os.ReadFile(filepath.Join(root, RulesFile))
	if errors.Is(err, fs.ErrNotExist) {
		return Rules{Wait: DefaultWait}, nil
	}
	if err != nil {
		return Rules{Wait: DefaultWait}, err
	}
	r, err := ParseRules(b)
	if err != nil {
		return Rules{Wait: DefaultWait}, fmt.Errorf("%s: %w", RulesFile, err)
	}
	return r, nil
}

// ParseRules reads the rules file's text.
func ParseRules(b []byte) (Rules, error) {
	r := Rules{Wait: DefaultWait}
	if len(b) > 64<<10 {
		return r, errors.New("larger than 64 KiB")
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		bad := func(format string, a ...any) (Rules, error) {
			return Rules{Wait: DefaultWait}, fmt.Errorf("line %d: "+format, append([]any{n}, a...)...)
		}
		if f[0] == "ignore" {
			// The rest of the line: input devices' names have spaces
			// ("input/AT Translated Set 2 keyboard").
			p := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "ignore"))
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return bad("ignore %q: not a pattern (path.Match: pci/ADDRESS, net/NAME, block/NAME, input/NAME)", p)
			}
			if len(r.Ignore) >= 1024 {
				return bad("more than 1024 ignore lines")
			}
			r.Ignore = append(r.Ignore, p)
			continue
		}
		if len(f) != 2 {
			return bad("%q: want a setting and one value (ignore PATTERN, carrier yes|no, wait DURATION, check on|off)", strings.TrimSpace(line))
		}
		switch f[0] {
		case "carrier":
			switch f[1] {
			case "yes":
				r.NoCarrier = false
			case "no":
				r.NoCarrier = true
			default:
				return bad("carrier %q: want yes or no", f[1])
			}
		case "check":
			switch f[1] {
			case "on":
				r.Off = false
			case "off":
				r.Off = true
			default:
				return bad("check %q: want on or off", f[1])
			}
		case "wait":
			d, err := time.ParseDuration(f[1])
			if err != nil || d < 0 || d > maxWait {
				return bad("wait %q: want a duration from 0s to %s (30s, 2m)", f[1], maxWait)
			}
			r.Wait = d
		default:
			return bad("unknown setting %q (ignore, carrier, wait, check)", f[0])
		}
	}
	if err := sc.Err(); err != nil {
		return Rules{Wait: DefaultWait}, err
	}
	return r, nil
}

// Settle compares before with the inventory take gives until nothing
// that counts is lost or r.Wait has passed, a second apart (sleep), and
// returns the last losses and the inventory they were found in.
func Settle(before Inventory, r Rules, take func() Inventory, now func() time.Time, sleep func(time.Duration)) ([]Loss, Inventory) {
	end := now().Add(r.Wait)
	for {
		after := take()
		l := Compare(before, after, r)
		if len(l) == 0 || !now().Before(end) {
			return l, after
		}
		sleep(time.Second)
	}
}

// CheckedFile records this boot's device check (bless), so that it is
// done once per boot (a second bless, or one after a soft reboot, which
// keeps /run and the kernel, reads it) and so that a swap from a boot
// whose check failed goes through the firmware.
const CheckedFile = "/run/warmboot/device-check.json"

// Checked is what CheckedFile holds.
type Checked struct {
	OK   bool     `json:"ok"`
	Lost []string `json:"lost,omitempty"`
}

// ReadChecked reads root's CheckedFile; ok is false when there is none
// (or it is unreadable: no check is known to have run).
func ReadChecked(root string) (c Checked, ok bool) {
	data, err := os.ReadFile(filepath.Join(root, CheckedFile))
	if err != nil || len(data) > 1<<20 || json.Unmarshal(data, &c) != nil {
		return Checked{}, false
	}
	return c, true
}

// WriteChecked writes root's CheckedFile.
func WriteChecked(root string, c Checked) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	p := filepath.Join(root, CheckedFile)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, data, 0o644)
}
