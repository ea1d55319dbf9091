package measure

import "errors"

// ErrNoTPM is returned by New when the machine has no TPM.
var ErrNoTPM = errors.New("no TPM")
