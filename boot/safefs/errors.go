package safefs

import "errors"

// ErrNotRegular says a name is a FIFO, socket or device node: boot files
// are regular files.
var ErrNotRegular = errors.New("not a regular file")
