// Package modload loads the kernel modules the image carries, in the order
// the image build resolved (dependencies first), with finit_module(2).
//
// The order is a file of module paths, one per line, written by
// images/mkimage from the modules' own dependency data; loading does no
// resolution of its own, so it costs one open and one syscall per module.
package modload

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ListFile is where the image keeps the load order.
const ListFile = "/etc/warmboot/modules.load"

// Loader inserts one module; sys.FinitModule in production.
type Loader func(f *os.File, params string) error

// Result says what happened to each module.
type Result struct {
	Loaded, Present int
	// Absent are the modules not for this machine: their init said
	// ENODEV (crc32c-intel on a CPU without SSE4.2, efivarfs without
	// UEFI), which is not an error.
	Absent []string
	Errors []error
}

// Load reads the list at list (paths relative to root) and loads each
// module. A module already loaded (EEXIST) counts as present, one whose
// init declines with ENODEV (crc32c_intel on a CPU without SSE4.2) as
// absent, not an error. A failure does not stop the rest: a broken
// optional module must not cost the disk driver. release is the running
// kernel's, to explain a mismatch.
func Load(root, list, release string, load Loader, exists func(error) bool) (Result, error) {
	return (&Modules{Root: root, Release: release, Load: load, Exists: exists}).LoadList(list)
}

// LoadList loads the modules listed in list (a file of paths relative to
// Root, one a line; # comments), in order, as Load describes.
func (m *Modules) LoadList(list string) (Result, error) {
	data, err := os.ReadFile(filepath.Join(m.Root, list))
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading module list: %w", err)
	}
	var paths []string
	for _, l := range strings.Split(string(data), "\n") {
		if p := strings.TrimSpace(l); p != "" && p[0] != '#' {
			paths = append(paths, p)
		}
	}
	before := len(m.absent)
	names, present, errs := m.loadPaths(paths)
	return Result{Loaded: len(names), Present: present, Absent: m.absent[before:], Errors: errs}, nil
}

// OptionsFile holds module parameters, one module a line: "NAME PARAMS",
// as modprobe.d's "options" lines (# comments).
const OptionsFile = "/etc/warmboot/modules.options"

// ReadOptions reads OptionsFile under root; none is no options.
func ReadOptions(root string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(root, OptionsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading module options: %w", err)
	}
	out := map[string]string{}
	for _, l := range strings.Split(string(data), "\n") {
		name, params, _ := strings.Cut(strings.TrimSpace(l), " ")
		if name != "" && name[0] != '#' {
			out[name] = strings.TrimSpace(params)
		}
	}
	return out, nil
}
