package authenticode

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"testing"

	"github.com/warmboot/warmboot/boot/authenticode/actest"
	"github.com/warmboot/warmboot/boot/uki"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
)

// Regression test from review; the bug it guarded against: the package claims to check "as UEFI firmware checks a program
// against its db and dbx". EDK2's DxeImageVerificationHandler walks every
// WIN_CERTIFICATE and fails the image as soon as one signature is
// IsForbiddenByDbx, whatever the others say. Here an image whose
// signature by a revoked (denied) certificate sits beside a signature by a
// valid one passes: a .deny entry does not refuse the images that
// certificate signed, if they also carry another signature.
func TestReviewUKIDeniedSignerBesideValidOne(t *testing.T) {
	dir := t.TempDir()
	ca := actest.New(t, dir, "vendor CA", nil, true)
	revoked := actest.New(t, dir, "leaked 2023 key", ca, false)
	current := actest.New(t, dir, "2025 key", ca, false)
	img := ukitest.Build(ukitest.Section{Name: ".linux", Data: bytes.Repeat([]byte("KERNEL"), 1000)})

	byRevoked := revoked.Sign(t, img)
	byCurrent := current.Sign(t, img)
	pe, err := uki.ParsePE(bytes.NewReader(byCurrent), int64(len(byCurrent)))
	if err != nil {
		t.Fatal(err)
	}
	second := byCurrent[pe.CertOffset : pe.CertOffset+pe.CertSize]
	// Append the second WIN_CERTIFICATE to the first image's table (as
	// sbattach/osslsigncode -nest or pesign would) and grow the directory.
	rp, err := uki.ParsePE(bytes.NewReader(byRevoked), int64(len(byRevoked)))
	if err != nil {
		t.Fatal(err)
	}
	if rp.CertOffset+rp.CertSize != int64(len(byRevoked)) {
		t.Fatalf("certificate table not at the end")
	}
	both := append(bytes.Clone(byRevoked), second...)
	binary.LittleEndian.PutUint32(both[rp.CertDirOffset+4:], uint32(rp.CertSize+int64(len(second))))

	tr := Trust{Certs: []*x509.Certificate{ca.Cert}, Deny: [][32]byte{sha256.Sum256(revoked.Cert.Raw)}}
	if _, err := verify(t, byRevoked, tr); err == nil {
		t.Fatal("control: image signed only by the denied key passes")
	}
	if res, err := verify(t, both, tr); err == nil {
		t.Errorf("image carrying a signature by denied %s passes (signer %s); EDK2 refuses it", Subject(revoked.Cert), Subject(res.Signer))
	}
}
