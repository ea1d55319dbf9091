package kexec

import "errors"

// ErrFallbackFailed wraps a kexec_load failure after kexec_file_load refused.
var ErrFallbackFailed = errors.New("kexec_load fallback failed")
