package verify

import "errors"

// Sentinels for the ways an entry fails, besides manifest's.
var (
	ErrNoManifest = errors.New("no signed manifest names this kernel")
	ErrMismatch   = errors.New("does not match its signed manifest")
)
