package manifest

import "errors"

// Sentinel errors a caller (and a test) can match.
var (
	ErrMalformed    = errors.New("malformed manifest")
	ErrUnsigned     = errors.New("manifest is not signed")
	ErrUnknownKey   = errors.New("signed by a key this image does not trust")
	ErrBadSignature = errors.New("signature does not verify")
)
