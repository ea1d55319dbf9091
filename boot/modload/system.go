package modload

import (
	"errors"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// LoadSystem loads the image's start-up modules (ListFile) into the
// running kernel.
func LoadSystem() (Result, error) {
	m, err := System()
	if err != nil {
		return Result{}, err
	}
	return m.LoadList(ListFile)
}

// System returns the Modules of the running image and kernel.
func System() (*Modules, error) {
	rel, err := sys.Release()
	if err != nil {
		return nil, err
	}
	m := &Modules{Root: "/", Sys: "/sys", Release: rel, Load: sys.FinitModule, Exists: func(err error) bool { return errors.Is(err, sys.EEXIST) }}
	m.Options, err = ReadOptions(m.Root)
	return m, err
}
