// Package modload loads the kernel modules the image carries, in the order
// the image build resolved (dependencies first), with finit_module(2).
//
// The order is a file of module paths, one per line, written by
// images/mkimage from the modules' own dependency data; loading does no
// resolution of its own, so it costs one open and one syscall per module.
package modload

import (
	"bufio"
	"bytes"
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
	Errors          []error
}

// Load reads the list at list (paths relative to root) and loads each
// module. A module already loaded (EEXIST) counts as present. A failure
// does not stop the rest: a missing optional module (crc32c_intel on a CPU
// without SSE4.2) must not cost the disk driver. release is the running
// kernel's, to explain a mismatch.
func Load(root, list, release string, load Loader, exists func(error) bool) (Result, error) {
	data, err := os.ReadFile(filepath.Join(root, list))
	if errors.Is(err, os.ErrNotExist) {
		return Result{}, nil
	}
	if err != nil {
		return Result{}, fmt.Errorf("reading module list: %w", err)
	}
	var r Result
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		p := strings.TrimSpace(sc.Text())
		if p == "" || p[0] == '#' {
			continue
		}
		if !strings.Contains(p, "/"+release+"/") {
			r.Errors = append(r.Errors, fmt.Errorf("%s was built for another kernel than the running %s: rebuild the image for this kernel", p, release))
			continue
		}
		f, err := os.Open(filepath.Join(root, p))
		if err != nil {
			r.Errors = append(r.Errors, fmt.Errorf("module %s: %w", p, err))
			continue
		}
		err = load(f, "")
		f.Close()
		switch {
		case err == nil:
			r.Loaded++
		case exists(err):
			r.Present++
		default:
			r.Errors = append(r.Errors, fmt.Errorf("module %s: %w", p, err))
		}
	}
	return r, sc.Err()
}
