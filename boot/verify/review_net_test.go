package verify

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/url"
	"testing"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/netfs"
	"github.com/warmboot/warmboot/boot/trust"
)

// s3 serves files by path and, as S3 and GCS buckets without list
// permission do, says 403 for a missing object.
type s3 map[string][]byte

func (s s3) Open(_ context.Context, u *url.URL, limit int64) (io.ReadCloser, int64, error) {
	if b, ok := s[u.Path]; ok {
		return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
	}
	return nil, 0, &fetch.Error{URL: u.String(), Err: &fetch.StatusError{Code: 403, Status: "403 Forbidden"}}
}
func (s s3) NotFound(err error) bool { return fetch.NotFound(err) }

// A manifest signed by warmsign sign -net (the signature inside it) on a
// server that says 403 for the .sig it does not have: the entry is
// refused under enforce, "403 Forbidden", though its signed manifest is
// right there and matches.
func TestReviewNetManifestSig403(t *testing.T) {
	pub, priv, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	kernel := []byte("kernel bytes")
	m := manifest.Manifest{Kernel: manifest.File{Path: "/k/vmlinuz", SHA256: sha256.Sum256(kernel)}, Cmdline: "console=ttyS0"}
	srv := s3{"/k/vmlinuz.manifest": m.Sign(priv)}
	e := entry.Entry{ID: "x", Kernel: "http://bucket.example/k/vmlinuz", Cmdline: "console=ttyS0", Net: &entry.Net{}}
	u, _ := url.Parse(e.Kernel)
	fsys := netfs.Root(context.Background(), srv, u, manifest.MaxSize+1)
	tr := trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, Keys: []trust.Key{{Public: pub}}}
	if _, err := Apply(fsys, tr, e, e.Cmdline, Digests{Kernel: sha256.Sum256(kernel)}, true); err != nil {
		t.Errorf("refused: %v", err)
	}
}
