package handoff

import "errors"

// Errors a reader reports; all of them mean "ignore the record".
var (
	ErrMalformed = errors.New("malformed handoff record")
	ErrVersion   = errors.New("unknown handoff record version")
)
