package tpm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
)

// fakeTPM answers every command with resp and records what was sent.
type fakeTPM struct {
	sent bytes.Buffer
	resp *bytes.Reader
}

func (f *fakeTPM) Write(p []byte) (int, error) { return f.sent.Write(p) }
func (f *fakeTPM) Read(p []byte) (int, error)  { return f.resp.Read(p) }

func response(rc uint32, body []byte) []byte {
	r := binary.BigEndian.AppendUint16(nil, stNoSessions)
	r = binary.BigEndian.AppendUint32(r, uint32(10+len(body)))
	r = binary.BigEndian.AppendUint32(r, rc)
	return append(r, body...)
}

func TestBanks(t *testing.T) {
	// moreData 0, TPM_CAP_PCRS, 3 selections: sha1 empty, sha256 all, sm3 one PCR.
	body := []byte{0, 0, 0, 0, 5, 0, 0, 0, 3,
		0x00, 0x04, 3, 0, 0, 0,
		0x00, 0x0B, 3, 0xff, 0xff, 0xff,
		0x00, 0x12, 3, 1, 0, 0}
	f := &fakeTPM{resp: bytes.NewReader(response(0, body))}
	got, err := Banks(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != SHA256 || got[1] != Alg(0x12) {
		t.Errorf("Banks = %v, want [sha256 alg-0x0012] (sha1 has no PCRs allocated)", got)
	}
	var tpmErr *Error
	f = &fakeTPM{resp: bytes.NewReader(response(0x101, nil))}
	if _, err := Banks(f); !errors.As(err, &tpmErr) || tpmErr.Code != 0x101 {
		t.Errorf("Banks with rc 0x101 = %v, want *Error", err)
	}
}

// FuzzResponses feeds arbitrary bytes as TPM responses: the parsers must
// return an error, never panic or read past what they were given.
func FuzzResponses(f *testing.F) {
	f.Add(response(0, []byte{0, 0, 0, 0, 5, 0, 0, 0, 1, 0, 0x0B, 3, 0xff, 0xff, 0xff}))
	f.Add(response(0, append([]byte{0, 0, 0, 1, 0, 0, 0, 1, 0, 0x0B, 3, 0, 2, 0, 0, 0, 0, 1, 0, 32}, make([]byte, 32)...)))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 8192 {
			return
		}
		_, _ = Banks(&fakeTPM{resp: bytes.NewReader(data)})
		if d, err := Read(&fakeTPM{resp: bytes.NewReader(data)}, 9, SHA256); err == nil && len(d) != 32 {
			t.Fatalf("Read returned %d bytes for sha256", len(d))
		}
		_ = Extend(&fakeTPM{resp: bytes.NewReader(data)}, 9, map[Alg][]byte{SHA256: make([]byte, 32)}, []Alg{SHA256})
	})
}

var _ io.ReadWriter = (*fakeTPM)(nil)
