package kexec

import "errors"

// ErrFallbackFailed wraps a kexec_load failure after kexec_file_load refused.
var ErrFallbackFailed = errors.New("kexec_load fallback failed")

// ErrUnsignedKernel is a unified kernel image whose kernel (.linux) is
// unsigned, refused before loading on a locked-down kernel.
var ErrUnsignedKernel = errors.New("unsigned kernel in a unified kernel image")
