package cfgfile

import "errors"

// ErrBinary says a config file holds a NUL byte: it is not text.
var ErrBinary = errors.New("not a text file (binary data)")
