package verify

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/trust"
)

// ErrUnsignedUKI is a unified kernel image that no signature the rule
// accepts vouches for.
var ErrUnsignedUKI = errors.New("not signed as the policy's uki rule asks")

// checkUKI applies t's rule for unified kernel images (trust.UKIRule):
// a manifest that signs the image, its add-ons and the command line they
// compose (as for any entry), an Authenticode signature on the image and
// on each add-on by a trusted certificate, or either, or both.
//
// An Authenticode signature covers the image's bytes, its own .cmdline
// among them, not a command line given from outside: an edited one is
// accepted only when the policy boots edits as unsigned, as with a
// manifest (and under enforce never for an image with .cmdline).
func checkUKI(fsys fs.FS, t trust.Trust, e entry.Entry, cmdline string, d Digests, checkCmdline bool) (Result, error) {
	rule := t.UKIs()
	var man Result
	var manErr error
	if rule != trust.UKIAuthenticode {
		man, manErr = Load(fsys, e.FilesDevice(), t).Check(e, cmdline, d, checkCmdline)
	}
	var ac Result
	acErr := fmt.Errorf("no certificates in the image's trust to check the Authenticode signature of %s with (add NAME.crt to TRUST_KEYS)", e.At(e.Kernel))
	if rule != trust.UKIManifest && d.Authenticode != nil {
		if acErr = d.Authenticode.Err; acErr == nil {
			ac = Result{Cert: d.Authenticode.Result.Anchor, CmdlineSigned: true}
			if !checkCmdline {
				ac.CmdlineSigned = false
			}
		}
	}
	if acErr == nil && checkCmdline && cmdline != d.ComposedCmdline {
		acErr = fmt.Errorf("command line %q is not %s's own, and an Authenticode signature does not cover it", cmdline, e.At(e.Kernel))
	}
	switch rule {
	case trust.UKIManifest:
		return man, manErr
	case trust.UKIAuthenticode:
		if acErr != nil {
			return Result{}, fmt.Errorf("%w (authenticode): %w", ErrUnsignedUKI, acErr)
		}
		return ac, nil
	case trust.UKIBoth:
		if manErr != nil {
			return Result{}, manErr
		}
		if acErr != nil {
			return Result{}, fmt.Errorf("%w (both): a manifest signs it, but %w", ErrUnsignedUKI, acErr)
		}
		man.Cert = ac.Cert
		return man, nil
	}
	if manErr == nil {
		return man, nil
	}
	if acErr == nil {
		return ac, nil
	}
	if d.Authenticode == nil {
		// No certificates: a manifest was the only way.
		return Result{}, manErr
	}
	return Result{}, fmt.Errorf("%w; and %w", manErr, acErr)
}
