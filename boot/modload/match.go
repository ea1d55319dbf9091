package modload

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// MatchFile lists the modules loaded for the hardware present: each line is
// a modalias pattern, a tab, and the module's load order (its dependencies
// first, the module last), as images/mkimage writes it.
const MatchFile = "/etc/warmboot/modules.match"

// GroupDir holds one NAME.load list per group of modules loaded on demand
// (the XFS driver when an XFS superblock is seen).
const GroupDir = "/etc/warmboot/modules.d"

// Modules loads the modules of an image: the eager list at start, the
// modules whose aliases match the devices present (as udev's coldplug
// would, but only from the image's own list), and groups on demand. Root
// and Sys are root paths; Load inserts one module.
type Modules struct {
	Root, Sys, Release string
	Load               Loader
	Exists             func(error) bool
	// Options are module parameters by module name (OptionsFile).
	Options map[string]string
	// absent are the modules whose init declined with ENODEV: not for
	// this machine (crc32c-intel on a CPU without SSE4.2, efivarfs
	// without UEFI), which is not an error.
	absent []string

	rules  []rule
	loaded map[string]bool // module paths loaded or present
	seen   map[string]bool // modaliases already matched
}

type rule struct {
	pattern string
	prefix  string // the pattern's literal start: a cheap first test
	paths   []string
}

// readRules reads MatchFile once.
func (m *Modules) readRules() error {
	if m.rules != nil {
		return nil
	}
	m.rules = []rule{}
	data, err := os.ReadFile(filepath.Join(m.Root, MatchFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		pat, paths, ok := strings.Cut(sc.Text(), "\t")
		if !ok || pat == "" {
			continue
		}
		prefix := pat
		if i := strings.IndexAny(pat, "*?[\\"); i >= 0 {
			prefix = pat[:i]
		}
		m.rules = append(m.rules, rule{pat, prefix, strings.Fields(paths)})
	}
	return sc.Err()
}

// coldplugRounds bounds Coldplug's walks: a driver that makes a device
// whose driver makes another (lpc_ich → iTCO_wdt) needs two; a bound keeps
// a driver that keeps making devices from holding the boot.
const coldplugRounds = 4

// Coldplug loads the modules matching devices that appeared since the last
// call (their /sys/bus/*/devices/*/modalias). A driver that makes devices
// as it loads (lpc_ich and i2c-i801 make the iTCO watchdog's platform
// device) is followed within the call: the walk is repeated while it
// loads something, up to coldplugRounds times. Devices that appear later
// (the disks behind a controller, found asynchronously; USB devices on a
// hub) need callers to call it again while they wait for disks. It
// returns the modules it loaded, by name.
func (m *Modules) Coldplug() ([]string, []error) {
	if err := m.readRules(); err != nil {
		return nil, []error{fmt.Errorf("reading %s: %w", MatchFile, err)}
	}
	if len(m.rules) == 0 {
		return nil, nil // an image with drivers built in (the payload): no sysfs walk
	}
	if m.seen == nil {
		m.seen = map[string]bool{}
	}
	var names []string
	var errs []error
	for range coldplugRounds {
		n, e := m.coldplugOnce()
		names, errs = append(names, n...), append(errs, e...)
		if len(n) == 0 {
			break
		}
	}
	return names, errs
}

// coldplugOnce is one walk of the devices' modaliases.
func (m *Modules) coldplugOnce() ([]string, []error) {
	aliases, _ := filepath.Glob(filepath.Join(m.Sys, "bus/*/devices/*/modalias"))
	sort.Strings(aliases)
	var names []string
	var errs []error
	for _, a := range aliases {
		b, err := os.ReadFile(a)
		if err != nil {
			continue
		}
		alias := strings.TrimSpace(string(b))
		if alias == "" || m.seen[alias] {
			continue
		}
		m.seen[alias] = true
		for _, r := range m.rules {
			if !strings.HasPrefix(alias, r.prefix) {
				continue
			}
			if ok, _ := path.Match(r.pattern, alias); !ok {
				continue
			}
			n, _, err := m.loadPaths(r.paths)
			names = append(names, n...)
			errs = append(errs, err...)
		}
	}
	return names, errs
}

// LoadGroup loads group NAME's list from GroupDir, once.
func (m *Modules) LoadGroup(name string) ([]string, []error) {
	data, err := os.ReadFile(filepath.Join(m.Root, GroupDir, name+".load"))
	if err != nil {
		return nil, []error{fmt.Errorf("module group %s: %w (rebuild the image with it)", name, err)}
	}
	names, _, errs := m.loadPaths(strings.Fields(string(data)))
	return names, errs
}

// loadPaths inserts each module not loaded yet by this Modules, in order.
// It returns the names of those it loaded and how many the kernel already
// had (EEXIST).
func (m *Modules) loadPaths(paths []string) (names []string, present int, errs []error) {
	if m.loaded == nil {
		m.loaded = map[string]bool{}
	}
	for _, p := range paths {
		if m.loaded[p] {
			continue
		}
		m.loaded[p] = true
		if !strings.Contains(p, "/"+m.Release+"/") {
			errs = append(errs, fmt.Errorf("%s was built for another kernel than the running %s: rebuild the image for this kernel", p, m.Release))
			continue
		}
		f, err := os.Open(filepath.Join(m.Root, p))
		if err != nil {
			errs = append(errs, fmt.Errorf("module %s: %w", p, err))
			continue
		}
		err = m.Load(f, m.Options[strings.TrimSuffix(path.Base(p), ".ko")])
		f.Close()
		switch {
		case err == nil:
			names = append(names, strings.TrimSuffix(path.Base(p), ".ko"))
		case m.Exists(err):
			present++
		case errors.Is(err, sys.ENODEV):
			m.absent = append(m.absent, strings.TrimSuffix(path.Base(p), ".ko"))
		default:
			errs = append(errs, fmt.Errorf("module %s: %w", p, err))
		}
	}
	return names, present, errs
}
