//go:build !linux

package netup

import (
	"context"
	"errors"
)

// Up needs Linux's netlink.
func Up(ctx context.Context, c Config) (Result, error) {
	return Result{}, errors.New("bringing the network up needs Linux")
}
