// Package actest makes X.509 signers and signs PE images with sbsign
// (sbsigntool), for tests of Authenticode checking.
package actest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/warmboot/warmboot/internal/testtool"
)

// Signer is a certificate and its key, also as PEM files for sbsign.
type Signer struct {
	Cert              *x509.Certificate
	Key               *rsa.PrivateKey
	CertFile, KeyFile string
	// PEM is the certificate in PEM, as a trust file holds it.
	PEM []byte
}

var serial atomic.Int64

// New makes a signer named name in dir, its certificate issued by
// parent (self-signed when nil); ca makes it a CA.
func New(t testing.TB, dir, name string, parent *Signer, ca bool) *Signer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano() + serial.Add(1)), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: ca, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
	}
	pcert, pkey := tmpl, key
	if parent != nil {
		pcert, pkey = parent.Cert, parent.Key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, pcert, &key.PublicKey, pkey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	s := &Signer{Cert: c, Key: key, CertFile: filepath.Join(dir, name+".crt"), KeyFile: filepath.Join(dir, name+".key"),
		PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	if err := os.WriteFile(s.CertFile, s.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// Sign signs the PE image img with sbsign, as a distribution's build
// signs a UKI or a kernel.
func (s *Signer) Sign(t testing.TB, img []byte) []byte {
	t.Helper()
	bin := testtool.Need(t, "sbsign")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.efi"), filepath.Join(dir, "out.efi")
	if err := os.WriteFile(in, img, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(bin, "--key", s.KeyFile, "--cert", s.CertFile, "--output", out, in).CombinedOutput(); err != nil {
		t.Fatalf("sbsign: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
