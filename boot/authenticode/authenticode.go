// Package authenticode checks the Authenticode signature of a PE image (a
// unified kernel image, an add-on) against X.509 certificates, as UEFI
// firmware checks a program against its db and dbx: the image's digest
// is computed as EDK2's DxeImageVerificationLib computes it, the
// PKCS #7 signature must be by a certificate that is trusted or chains to
// one, and a deny list of image digests and certificate digests refuses
// what would otherwise pass.
//
// It is our own, on encoding/asn1 and crypto/x509, rather than a
// dependency: Go's standard library has no PKCS #7, and the PKCS #7
// libraries in Go (go.mozilla.org/pkcs7, smallstep's fork, the one in
// foxboron/go-uefi) verify the signer's time validity and key usage as
// TLS does, which firmware does not, and parse more of the format (CRLs,
// enveloped data) than a bootloader should expose to a hostile file. What
// is read here is bounded by the certificate table's size.
//
// As in firmware: no time is checked (a machine's clock is not trusted
// before the OS runs), the chain is built from the certificates the
// signature carries up to a trusted one (at most MaxChain links), and an
// image with several signatures passes if one of them does and none is
// by a denied certificate.
package authenticode

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"slices"
	"sort"

	"github.com/warmboot/warmboot/boot/uki"
)

// Errors, matched with errors.Is.
var (
	// ErrUnsigned is an image without a signature.
	ErrUnsigned = errors.New("not signed (no Authenticode signature: sign it with sbsign, or remove it)")
	// ErrUntrusted is a signature by a certificate that is not trusted
	// and does not chain to one.
	ErrUntrusted = errors.New("signed by a certificate this image does not trust")
	// ErrDenied is an image or certificate on the deny list.
	ErrDenied = errors.New("on the deny list")
	// ErrBadSignature is a signature that does not verify: the image
	// changed after signing, or the signature is malformed.
	ErrBadSignature = errors.New("the Authenticode signature does not verify")
)

// MaxChain bounds the certificates between a signer and a trusted one;
// MaxCertTable bounds the certificate table read.
const (
	MaxChain     = 4
	MaxCertTable = 1 << 20
)

// Trust is what signatures are checked against.
type Trust struct {
	// Certs are the trusted certificates (db).
	Certs []*x509.Certificate
	// Deny are SHA-256 digests of images (their Authenticode digest)
	// and of certificates (of their DER) that are refused (dbx).
	Deny [][32]byte
}

// Result is a passed check.
type Result struct {
	// Signer is the certificate that signed; Anchor the trusted one it
	// chains to (the same when the signer is trusted itself).
	Signer, Anchor *x509.Certificate
	// Digest is the image's Authenticode SHA-256.
	Digest [32]byte
}

// Subject names a certificate for messages: its subject's common name
// (else the whole subject) and the start of its SHA-256.
func Subject(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	name := c.Subject.CommonName
	if name == "" {
		name = c.Subject.String()
	}
	return fmt.Sprintf("%q (sha256:%s)", name, hex.EncodeToString(sum[:8]))
}

// Digest is the Authenticode digest of the PE image pe read from r with
// hash h, as EDK2 computes it: the headers up to SizeOfHeaders without
// the CheckSum and the certificate table's directory entry, then each
// section's raw data in file order, then what follows them up to the
// certificate table.
func Digest(r io.ReaderAt, pe *uki.PE, h crypto.Hash) ([]byte, error) {
	d := h.New()
	add := func(off, end int64) error {
		if end < off || end > pe.Size {
			return fmt.Errorf("%w: digest range %#x-%#x outside the file", uki.ErrMalformed, off, end)
		}
		_, err := io.Copy(d, io.NewSectionReader(r, off, end-off))
		return err
	}
	hdrs := pe.SizeOfHeaders
	if hdrs < pe.HeadersEnd || hdrs > pe.Size {
		return nil, fmt.Errorf("%w: SizeOfHeaders %#x is not after the section table", uki.ErrMalformed, hdrs)
	}
	if pe.CertDirOffset == 0 {
		return nil, ErrUnsigned
	}
	if err := add(0, pe.ChecksumOffset); err != nil {
		return nil, err
	}
	if err := add(pe.ChecksumOffset+4, pe.CertDirOffset); err != nil {
		return nil, err
	}
	if err := add(pe.CertDirOffset+8, hdrs); err != nil {
		return nil, err
	}
	secs := slices.Clone(pe.Sections)
	sort.SliceStable(secs, func(i, j int) bool { return secs[i].Offset < secs[j].Offset })
	sum := hdrs
	for _, s := range secs {
		if s.RawSize == 0 {
			continue
		}
		if err := add(s.Offset, s.Offset+s.RawSize); err != nil {
			return nil, err
		}
		sum += s.RawSize
	}
	end := pe.Size - pe.CertSize
	if sum < end {
		if err := add(sum, end); err != nil {
			return nil, err
		}
	}
	return d.Sum(nil), nil
}

// Verify checks the Authenticode signatures of the PE image pe in r
// against t. It returns a Result or an error, never both.
func Verify(r io.ReaderAt, pe *uki.PE, t Trust) (Result, error) {
	sha, err := Digest(r, pe, crypto.SHA256)
	if err != nil {
		return Result{}, err
	}
	var digest [32]byte
	copy(digest[:], sha)
	if slices.Contains(t.Deny, digest) {
		return Result{}, fmt.Errorf("%w: the image's Authenticode digest sha256:%x", ErrDenied, digest)
	}
	if pe.CertSize == 0 {
		return Result{}, ErrUnsigned
	}
	if pe.CertSize > MaxCertTable {
		return Result{}, fmt.Errorf("%w: certificate table of %d bytes", ErrBadSignature, pe.CertSize)
	}
	table := make([]byte, pe.CertSize)
	if _, err := r.ReadAt(table, pe.CertOffset); err != nil {
		return Result{}, fmt.Errorf("reading the certificate table: %w", err)
	}
	// Every signature is checked: as in EDK2, one by a denied
	// certificate refuses the image even when another one passes.
	var errs []error
	var passed *Result
	for len(table) >= 8 {
		n := int(binary.LittleEndian.Uint32(table))
		rev, typ := binary.LittleEndian.Uint16(table[4:]), binary.LittleEndian.Uint16(table[6:])
		if n < 8 || n > len(table) {
			errs = append(errs, fmt.Errorf("%w: certificate entry of %d bytes in a table of %d", ErrBadSignature, n, len(table)))
			break
		}
		if rev == 0x0200 && typ == 0x0002 { // WIN_CERT_TYPE_PKCS_SIGNED_DATA
			res, err := verifySignedData(table[8:n], crypto.SHA256, sha, t)
			switch {
			case errors.Is(err, ErrDenied):
				return Result{}, err
			case err == nil && passed == nil:
				res.Digest = digest
				passed = &res
			case err != nil:
				errs = append(errs, err)
			}
		}
		table = table[min((n+7)&^7, len(table)):]
	}
	if passed != nil {
		return *passed, nil
	}
	if len(errs) == 0 {
		return Result{}, ErrUnsigned
	}
	return Result{}, errors.Join(errs...)
}

// The ASN.1 of PKCS #7 SignedData and Authenticode's SpcIndirectDataContent
// (RFC 2315; Microsoft's "Windows Authenticode Portable Executable Signature
// Format").
type contentInfo struct {
	ContentType asn1.ObjectIdentifier
	Content     asn1.RawValue `asn1:"explicit,tag:0"`
}

type signedData struct {
	Version          int
	DigestAlgorithms asn1.RawValue
	ContentInfo      contentInfo
	Certificates     asn1.RawValue `asn1:"optional,tag:0"`
	CRLs             asn1.RawValue `asn1:"optional,tag:1"`
	SignerInfos      []signerInfo  `asn1:"set"`
}

type issuerAndSerial struct {
	Issuer asn1.RawValue
	Serial *big.Int
}

type signerInfo struct {
	Version            int
	IssuerAndSerial    issuerAndSerial
	DigestAlgorithm    pkix.AlgorithmIdentifier
	AuthAttributes     asn1.RawValue `asn1:"optional,tag:0"`
	DigestEncAlgorithm pkix.AlgorithmIdentifier
	EncryptedDigest    []byte
	UnauthAttributes   asn1.RawValue `asn1:"optional,tag:1"`
}

type attribute struct {
	Type   asn1.ObjectIdentifier
	Values asn1.RawValue `asn1:"set"`
}

type spcIndirectData struct {
	Data          asn1.RawValue
	MessageDigest digestInfo
}

type digestInfo struct {
	Algorithm pkix.AlgorithmIdentifier
	Digest    []byte
}

var (
	oidSignedData     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidSpcIndirect    = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 311, 2, 1, 4}
	oidMessageDigest  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidContentType    = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidSHA256         = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidRSA            = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 1}
	oidSHA256WithRSA  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidECDSAWithSHA25 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
)

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadSignature, fmt.Sprintf(format, args...))
}

func verifySignedData(der []byte, h crypto.Hash, imageDigest []byte, t Trust) (Result, error) {
	var ci contentInfo
	if rest, err := asn1.Unmarshal(der, &ci); err != nil {
		return Result{}, malformed("PKCS #7: %v", err)
	} else if len(bytes.TrimRight(rest, "\x00")) > 0 {
		return Result{}, malformed("data after the PKCS #7 structure")
	}
	if !ci.ContentType.Equal(oidSignedData) {
		return Result{}, malformed("not PKCS #7 signed data")
	}
	var sd signedData
	if _, err := asn1.Unmarshal(ci.Content.Bytes, &sd); err != nil {
		return Result{}, malformed("PKCS #7 signed data: %v", err)
	}
	if !sd.ContentInfo.ContentType.Equal(oidSpcIndirect) {
		return Result{}, malformed("content is not Authenticode's SpcIndirectDataContent")
	}
	// The signed content is the SpcIndirectDataContent's contents,
	// without its own tag and length (an Authenticode rule).
	var inner asn1.RawValue
	if _, err := asn1.Unmarshal(sd.ContentInfo.Content.Bytes, &inner); err != nil {
		return Result{}, malformed("SpcIndirectDataContent: %v", err)
	}
	var spc spcIndirectData
	if _, err := asn1.Unmarshal(sd.ContentInfo.Content.Bytes, &spc); err != nil {
		return Result{}, malformed("SpcIndirectDataContent: %v", err)
	}
	if !spc.MessageDigest.Algorithm.Algorithm.Equal(oidSHA256) {
		return Result{}, malformed("the image digest is not SHA-256 (%v)", spc.MessageDigest.Algorithm.Algorithm)
	}
	if !bytes.Equal(spc.MessageDigest.Digest, imageDigest) {
		return Result{}, fmt.Errorf("%w: the image's digest is sha256:%x, the signature signs sha256:%x (the file changed after signing: restore it or sign it again)",
			ErrBadSignature, imageDigest, spc.MessageDigest.Digest)
	}
	var certs []*x509.Certificate
	if len(sd.Certificates.Bytes) > 0 {
		var err error
		if certs, err = x509.ParseCertificates(sd.Certificates.Bytes); err != nil {
			return Result{}, malformed("certificates: %v", err)
		}
	}
	if len(sd.SignerInfos) != 1 {
		return Result{}, malformed("%d signers (Authenticode has one)", len(sd.SignerInfos))
	}
	si := sd.SignerInfos[0]
	var signer *x509.Certificate
	for _, c := range certs {
		if c.SerialNumber.Cmp(si.IssuerAndSerial.Serial) == 0 && bytes.Equal(c.RawIssuer, si.IssuerAndSerial.Issuer.FullBytes) {
			signer = c
			break
		}
	}
	if signer == nil {
		return Result{}, malformed("the signer's certificate is not in the signature")
	}
	if !si.DigestAlgorithm.Algorithm.Equal(oidSHA256) {
		return Result{}, malformed("signer digest algorithm %v is not SHA-256", si.DigestAlgorithm.Algorithm)
	}
	content := inner.Bytes
	signedBytes := content
	if len(si.AuthAttributes.FullBytes) > 0 {
		var attrs []attribute
		if _, err := asn1.UnmarshalWithParams(si.AuthAttributes.FullBytes, &attrs, "set,tag:0"); err != nil {
			return Result{}, malformed("authenticated attributes: %v", err)
		}
		var md []byte
		var ct bool
		for _, a := range attrs {
			switch {
			case a.Type.Equal(oidMessageDigest):
				if _, err := asn1.Unmarshal(a.Values.Bytes, &md); err != nil {
					return Result{}, malformed("messageDigest: %v", err)
				}
			case a.Type.Equal(oidContentType):
				var oid asn1.ObjectIdentifier
				if _, err := asn1.Unmarshal(a.Values.Bytes, &oid); err != nil || !oid.Equal(oidSpcIndirect) {
					return Result{}, malformed("contentType attribute is not SpcIndirectDataContent")
				}
				ct = true
			}
		}
		sum := sha256.Sum256(content)
		if md == nil || !ct || !bytes.Equal(md, sum[:]) {
			return Result{}, malformed("the authenticated attributes do not match the signed content")
		}
		// Signed as a SET OF, not as the [0] IMPLICIT that carries them.
		signedBytes = slices.Clone(si.AuthAttributes.FullBytes)
		signedBytes[0] = 0x31
	}
	if err := checkSig(signer, si, signedBytes); err != nil {
		return Result{}, fmt.Errorf("%w: by %s: %v", ErrBadSignature, Subject(signer), err)
	}
	anchor, err := chain(signer, certs, t)
	if err != nil {
		return Result{}, err
	}
	return Result{Signer: signer, Anchor: anchor}, nil
}

func checkSig(c *x509.Certificate, si signerInfo, signed []byte) error {
	alg := si.DigestEncAlgorithm.Algorithm
	var sa x509.SignatureAlgorithm
	switch {
	case alg.Equal(oidRSA), alg.Equal(oidSHA256WithRSA):
		sa = x509.SHA256WithRSA
	case alg.Equal(oidECDSAWithSHA25):
		sa = x509.ECDSAWithSHA256
	default:
		return fmt.Errorf("signature algorithm %v is not supported (RSA or ECDSA with SHA-256)", alg)
	}
	return c.CheckSignature(sa, signed, si.EncryptedDigest)
}

// chain finds the trusted certificate c is, or chains to through the
// signature's certificates; a denied certificate anywhere refuses.
func chain(c *x509.Certificate, pool []*x509.Certificate, t Trust) (*x509.Certificate, error) {
	denied := func(c *x509.Certificate) bool { return slices.Contains(t.Deny, sha256.Sum256(c.Raw)) }
	for range MaxChain + 1 {
		if denied(c) {
			return nil, fmt.Errorf("%w: certificate %s", ErrDenied, Subject(c))
		}
		for _, tc := range t.Certs {
			if bytes.Equal(tc.Raw, c.Raw) {
				return tc, nil
			}
		}
		for _, tc := range t.Certs {
			if bytes.Equal(tc.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(tc) == nil {
				if denied(tc) {
					return nil, fmt.Errorf("%w: certificate %s", ErrDenied, Subject(tc))
				}
				return tc, nil
			}
		}
		var next *x509.Certificate
		for _, p := range pool {
			if p != c && bytes.Equal(p.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(p) == nil {
				next = p
				break
			}
		}
		if next == nil {
			break
		}
		c = next
	}
	return nil, fmt.Errorf("%w: %s, issued by %q", ErrUntrusted, Subject(c), c.Issuer.String())
}
