//go:build linux

package modload

import (
	"errors"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// LoadSystem loads the image's modules into the running kernel.
func LoadSystem() (Result, error) {
	rel, err := sys.Release()
	if err != nil {
		return Result{}, err
	}
	return Load("/", ListFile, rel, sys.FinitModule, func(err error) bool { return errors.Is(err, sys.EEXIST) })
}

// System returns the Modules of the running image and kernel.
func System() (*Modules, error) {
	rel, err := sys.Release()
	if err != nil {
		return nil, err
	}
	return &Modules{Root: "/", Sys: "/sys", Release: rel, Load: sys.FinitModule, Exists: func(err error) bool { return errors.Is(err, sys.EEXIST) }}, nil
}
