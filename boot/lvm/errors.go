package lvm

import "errors"

// ErrNoMetadata says a metadata area holds no volume group.
var ErrNoMetadata = errors.New("no volume group metadata")
