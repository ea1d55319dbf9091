package trust

import (
	"bufio"
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"path"
	"strings"
)

// Besides Ed25519 keys, an image may trust X.509 certificates, which
// check the Authenticode signatures of unified kernel images (package
// authenticode) as UEFI's db does, and deny image or certificate
// digests, as its dbx does. Both are files given with the keys
// (TRUST_KEYS): a certificate is NAME.crt, NAME.pem or NAME.cer (PEM or
// DER), a deny list NAME.deny (one "sha256:HEX" per line, '#' comments):
// the SHA-256 of an image's Authenticode digest or of a certificate's
// DER.

// UKIRule says which signatures a unified kernel image needs.
type UKIRule string

const (
	// UKIEither accepts a UKI that a manifest signs or that carries an
	// Authenticode signature by a trusted certificate: the default.
	UKIEither UKIRule = "either"
	// UKIManifest accepts only manifests, as for other entries.
	UKIManifest UKIRule = "manifest"
	// UKIAuthenticode accepts only Authenticode signatures.
	UKIAuthenticode UKIRule = "authenticode"
	// UKIBoth needs both.
	UKIBoth UKIRule = "both"
)

// ParseUKIRule validates a "uki" setting.
func ParseUKIRule(s string) (UKIRule, error) {
	switch r := UKIRule(s); r {
	case UKIEither, UKIManifest, UKIAuthenticode, UKIBoth:
		return r, nil
	}
	return "", fmt.Errorf("unknown uki setting %q (want either, manifest, authenticode or both)", s)
}

// UKIs is the rule for unified kernel images, UKIEither when unset.
func (t Trust) UKIs() UKIRule {
	if t.UKI == "" {
		return UKIEither
	}
	return t.UKI
}

// kind is what a trust file holds, by its name.
func kind(name string) string {
	switch path.Ext(name) {
	case ".crt", ".pem", ".cer":
		return "cert"
	case ".deny":
		return "deny"
	}
	return "key"
}

// ParseCertificate reads one X.509 certificate, PEM or DER.
func ParseCertificate(data []byte) (*x509.Certificate, error) {
	if b, _ := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %q is not a CERTIFICATE", b.Type)
		}
		data = b.Bytes
	}
	c, err := x509.ParseCertificate(data)
	if err != nil {
		return nil, fmt.Errorf("not an X.509 certificate: %w", err)
	}
	return c, nil
}

// ParseDeny reads a deny list: "sha256:HEX" per line, '#' comments.
func ParseDeny(data []byte) ([][32]byte, error) {
	var out [][32]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		hx, ok := strings.CutPrefix(f[0], "sha256:")
		var d [32]byte
		if b, err := hex.DecodeString(hx); !ok || err != nil || len(b) != 32 {
			return nil, fmt.Errorf("line %d: want sha256: and 64 hex digits", n)
		} else {
			copy(d[:], b)
		}
		out = append(out, d)
	}
	return out, sc.Err()
}

// add parses one trust file into t by its kind.
func (t *Trust) add(name string, data []byte) error {
	switch kind(name) {
	case "cert":
		c, err := ParseCertificate(data)
		if err != nil {
			return err
		}
		t.Certs = append(t.Certs, c)
	case "deny":
		d, err := ParseDeny(data)
		if err != nil {
			return err
		}
		t.Deny = append(t.Deny, d...)
	default:
		k, err := ParseKey(data)
		if err != nil {
			return err
		}
		t.Keys = append(t.Keys, k)
	}
	return nil
}

// Add parses one trust file into t by its name: a public key (.pub or
// anything else), a certificate (.crt, .pem, .cer) or a deny list
// (.deny), as Load and Archive read them.
func (t *Trust) Add(name string, data []byte) error { return t.add(name, data) }
