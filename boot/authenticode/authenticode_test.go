package authenticode

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/authenticode/actest"
	"github.com/warmboot/warmboot/boot/uki"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/internal/testtool"
)

func verify(t *testing.T, img []byte, tr Trust) (Result, error) {
	t.Helper()
	pe, err := uki.ParsePE(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	return Verify(bytes.NewReader(img), pe, tr)
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	ca := actest.New(t, dir, "warmboot test CA", nil, true)
	leaf := actest.New(t, dir, "kernel signing", ca, false)
	self := actest.New(t, dir, "self-signed db", nil, false)
	stranger := actest.New(t, dir, "stranger", nil, false)
	img := ukitest.Build(ukitest.Section{Name: ".linux", Data: bytes.Repeat([]byte("KERNEL"), 1000)}, ukitest.Section{Name: ".cmdline", Data: []byte("quiet")})

	bySelf := self.Sign(t, img)
	res, err := verify(t, bySelf, Trust{Certs: []*x509.Certificate{self.Cert}})
	if err != nil || res.Signer.Subject.CommonName != "self-signed db" || res.Anchor != self.Cert {
		t.Fatalf("signed by a trusted cert: %+v, %v", res, err)
	}
	// The digest is the one sbsign signed: osslsigncode-independent
	// check through sbverify below, and here through our own.
	pe, _ := uki.ParsePE(bytes.NewReader(img), int64(len(img)))
	unsignedDigest, err := Digest(bytes.NewReader(img), pe, crypto.SHA256)
	if err != nil || !bytes.Equal(unsignedDigest, res.Digest[:]) {
		t.Errorf("digest of the unsigned image %x, of the signed one %x: signing must not change it", unsignedDigest, res.Digest)
	}

	byLeaf := leaf.Sign(t, img)
	if res, err := verify(t, byLeaf, Trust{Certs: []*x509.Certificate{ca.Cert}}); err != nil || res.Anchor != ca.Cert {
		t.Errorf("signed by a cert the trusted CA issued: %+v, %v", res, err)
	}
	if _, err := verify(t, stranger.Sign(t, img), Trust{Certs: []*x509.Certificate{self.Cert, ca.Cert}}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("signed by a stranger: %v, want ErrUntrusted", err)
	}
	if _, err := verify(t, img, Trust{Certs: []*x509.Certificate{self.Cert}}); !errors.Is(err, ErrUnsigned) {
		t.Errorf("unsigned: %v, want ErrUnsigned", err)
	}
	flipped := bytes.Clone(bySelf)
	flipped[bytes.Index(flipped, []byte("quiet"))] ^= 0x20
	if _, err := verify(t, flipped, Trust{Certs: []*x509.Certificate{self.Cert}}); !errors.Is(err, ErrBadSignature) {
		t.Errorf("a byte flipped after signing: %v, want ErrBadSignature", err)
	}
	// sbverify (sbsigntool) agrees on both.
	bin := testtool.Need(t, "sbverify")
	for _, c := range []struct {
		img  []byte
		pass bool
	}{{bySelf, true}, {flipped, false}} {
		f := filepath.Join(dir, "v.efi")
		os.WriteFile(f, c.img, 0o644)
		if err := exec.Command(bin, "--cert", self.CertFile, f).Run(); (err == nil) != c.pass {
			t.Errorf("sbverify pass=%v, we say %v", err == nil, c.pass)
		}
	}

	// The deny list: the image's digest, or a certificate on the way.
	if _, err := verify(t, bySelf, Trust{Certs: []*x509.Certificate{self.Cert}, Deny: [][32]byte{res.Digest}}); !errors.Is(err, ErrDenied) {
		t.Errorf("denied image: %v, want ErrDenied", err)
	}
	if _, err := verify(t, byLeaf, Trust{Certs: []*x509.Certificate{ca.Cert}, Deny: [][32]byte{sha256.Sum256(leaf.Cert.Raw)}}); !errors.Is(err, ErrDenied) {
		t.Errorf("denied signer: %v, want ErrDenied", err)
	}
}

func FuzzVerifySignedData(f *testing.F) {
	f.Add([]byte{0x30, 0x03, 0x06, 0x01, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<16 {
			return
		}
		testtool.Bounded(t, func() { verifySignedData(b, crypto.SHA256, make([]byte, 32), Trust{}) })
	})
}
