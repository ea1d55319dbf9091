// Package trustimg bakes verification keys and a policy into a bootloader
// image: it appends a cpio archive holding trust.Dir/policy and
// trust.Dir/keys/*.pub to the image's cpio. The kernel unpacks
// concatenated archives in order, so the result is one initramfs; the
// same function serves "make image TRUST_KEYS=..." and the VM tests, which
// derive their enforce and warn images from one build this way instead of
// running the Go build again for each.
package trustimg

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/trust"
)

// Key is a public key file to trust.
type Key struct {
	Name string // file name, for messages and the image's keys/ dir
	Data []byte
}

// Append returns base with the trust archive appended, and the trust it
// holds. Policy "" means enforce when keys are given and off otherwise;
// edits "" means refuse.
func Append(base []byte, keys []Key, policy, edits string) ([]byte, trust.Trust, error) {
	t := trust.Trust{Policy: trust.Off, Edits: trust.EditsRefuse}
	if len(keys) > 0 {
		t.Policy = trust.Enforce
	}
	var err error
	if policy != "" {
		if t.Policy, err = trust.ParsePolicy(policy); err != nil {
			return nil, trust.Trust{}, err
		}
	}
	if edits != "" {
		if t.Edits, err = trust.ParseEdits(edits); err != nil {
			return nil, trust.Trust{}, err
		}
	}
	if t.Policy != trust.Off && len(keys) == 0 {
		return nil, trust.Trust{}, fmt.Errorf("policy %s needs keys: give TRUST_KEYS (public keys from warmsign keygen or signify-openbsd -G)", t.Policy)
	}
	files := map[string][]byte{"/" + path.Join(trust.Dir, "policy"): t.MarshalPolicy()}
	for i, k := range keys {
		pk, err := trust.ParseKey(k.Data)
		if err != nil {
			return nil, trust.Trust{}, fmt.Errorf("key %s: %w", k.Name, err)
		}
		name := strings.TrimSuffix(filepath.Base(k.Name), ".pub")
		p := "/" + path.Join(trust.Dir, "keys", fmt.Sprintf("%02d-%s.pub", i, name))
		files[p] = k.Data
		t.Keys = append(t.Keys, pk)
	}
	seg, err := handoff.Segment(files)
	if err != nil {
		return nil, trust.Trust{}, err
	}
	out := append([]byte(nil), base...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return append(out, seg...), t, nil
}
