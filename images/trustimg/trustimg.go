// Package trustimg bakes verification keys and a policy into a bootloader
// image: it appends the trust archive package trust writes and reads
// (trust.Archive: trust.Dir/policy and trust.Dir/keys/*.pub) to the
// image's cpio, with the image build's defaults. The kernel unpacks
// concatenated archives in order, so the result is one initramfs; the
// same function serves "make image TRUST_KEYS=..." and the VM tests, which
// derive their enforce and warn images from one build this way instead of
// running the Go build again for each.
package trustimg

import (
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/netboot"
	"github.com/warmboot/warmboot/boot/trust"
)

// Append returns base with the trust archive (trust.Archive) appended,
// and the trust it holds. Policy "" means enforce when keys are given and
// off otherwise; edits "" means refuse.
//
// Keys may include X.509 certificates (.crt, .pem, .cer) and deny lists
// (.deny), which check unified kernel images' Authenticode signatures;
// uki is the rule for those images ("" is either).
func Append(base []byte, keys []trust.KeyFile, policy, edits, uki string) ([]byte, trust.Trust, error) {
	p, e := trust.Off, trust.EditsRefuse
	if len(keys) > 0 {
		p = trust.Enforce
	}
	var err error
	if policy != "" {
		if p, err = trust.ParsePolicy(policy); err != nil {
			return nil, trust.Trust{}, err
		}
	}
	if edits != "" {
		if e, err = trust.ParseEdits(edits); err != nil {
			return nil, trust.Trust{}, err
		}
	}
	var rule trust.UKIRule
	if uki != "" {
		if rule, err = trust.ParseUKIRule(uki); err != nil {
			return nil, trust.Trust{}, err
		}
	}
	if p != trust.Off && len(keys) == 0 {
		return nil, trust.Trust{}, fmt.Errorf("policy %s needs keys: give TRUST_KEYS (public keys from warmsign keygen or signify-openbsd -G, or certificates NAME.crt for Authenticode)", p)
	}
	seg, t, err := trust.ArchiveUKI(p, e, rule, keys)
	if err != nil {
		return nil, trust.Trust{}, err
	}
	return appendSegment(base, seg), t, nil
}

// AppendTLS returns base with the certificate authorities cas (PEM)
// appended in netboot.TLSDir, and their subjects; a file with no
// certificate in it is an error naming it.
func AppendTLS(base []byte, cas []trust.KeyFile) ([]byte, []string, error) {
	files := map[string][]byte{}
	for i, c := range cas {
		name := strings.TrimSuffix(filepath.Base(c.Name), filepath.Ext(c.Name))
		files["/"+path.Join(netboot.TLSDir, fmt.Sprintf("%02d-%s.crt", i, name))] = c.Data
	}
	// Read back as the bootloader will: what it refuses, refuse here.
	_, subjects, err := netboot.LoadCAs(mapFS(files))
	if err != nil {
		return nil, nil, err
	}
	seg, err := handoff.Segment(files)
	if err != nil {
		return nil, nil, err
	}
	return appendSegment(base, seg), subjects, nil
}

func mapFS(files map[string][]byte) fs.FS {
	m := fstest.MapFS{}
	for k, v := range files {
		m[strings.TrimPrefix(k, "/")] = &fstest.MapFile{Data: v, Mode: 0o644}
	}
	return m
}

// appendSegment is base with the cpio segment seg appended, 4-byte
// aligned as the kernel reads concatenated archives.
func appendSegment(base, seg []byte) []byte {
	out := append([]byte(nil), base...)
	for len(out)%4 != 0 {
		out = append(out, 0)
	}
	return append(out, seg...)
}
