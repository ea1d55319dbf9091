package netboot

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"
)

// TLSDir is where an image keeps the certificate authorities HTTPS
// servers are checked against (PEM, *.crt or *.pem), inside the
// initramfs: "make image TLS_CAS=ca.crt" puts them there.
const TLSDir = "etc/warmboot/tls"

// Released is when this version of warmboot was written: a clock that
// reads earlier is wrong, and HTTPS is not trusted with it
// (fetch.Client.NotBefore).
var Released = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// LoadCAs reads TLSDir of fsys (the initramfs's root): nil, nil when the
// image has none.
func LoadCAs(fsys fs.FS) (*x509.CertPool, []string, error) {
	names, _ := fs.Glob(fsys, path.Join(TLSDir, "*"))
	sort.Strings(names)
	var pool *x509.CertPool
	var subjects []string
	for _, n := range names {
		if !strings.HasSuffix(n, ".crt") && !strings.HasSuffix(n, ".pem") {
			continue
		}
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, nil, err
		}
		found := 0
		for {
			var b *pem.Block
			b, data = pem.Decode(data)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, nil, fmt.Errorf("/%s: %w", n, err)
			}
			if pool == nil {
				pool = x509.NewCertPool()
			}
			pool.AddCert(c)
			subjects = append(subjects, c.Subject.String())
			found++
		}
		if found == 0 {
			return nil, nil, fmt.Errorf("/%s: no PEM certificate in it", n)
		}
	}
	return pool, subjects, nil
}
