package raid

import "errors"

// ErrNoMD says the md driver is not loaded.
var ErrNoMD = errors.New("the md driver is not loaded (md_mod and raid1 must be in the image)")
