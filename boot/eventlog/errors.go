package eventlog

import "errors"

// ErrMalformed wraps every parse failure.
var ErrMalformed = errors.New("malformed event log")
