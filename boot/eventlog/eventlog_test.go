package eventlog

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"testing"

	"github.com/warmboot/warmboot/boot/tpm"
)

func sample() *Log {
	l := &Log{Algs: []tpm.Alg{tpm.SHA1, tpm.SHA256}}
	l.Add(9, EvIPL, []byte("kernel"), []byte("vda2:/vmlinuz\x00"))
	l.Add(8, EvIPL, []byte("quiet"), []byte("kernel_cmdline: quiet\x00"))
	l.Add(8, EvNoAction, []byte("x"), nil)
	return l
}

func TestRoundTripReplay(t *testing.T) {
	l := sample()
	got, err := Parse(l.Marshal())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Marshal(), l.Marshal()) {
		t.Error("Marshal(Parse(Marshal(l))) differs")
	}
	// PCR 9 = SHA256(zeros || SHA256("kernel")); EV_NO_ACTION not extended.
	k := sha256.Sum256([]byte("kernel"))
	want := sha256.Sum256(append(make([]byte, 32), k[:]...))
	if r := got.Replay(tpm.SHA256); !bytes.Equal(r[9], want[:]) || len(r) != 2 {
		t.Errorf("Replay = %x, want PCR 9 %x and PCR 8 only", r, want)
	}
	if got.Replay(tpm.SHA512) != nil {
		t.Error("Replay of a bank the log lacks is not nil")
	}
}

func TestParseErrors(t *testing.T) {
	good := sample().Marshal()
	for name, in := range map[string][]byte{
		"empty":     nil,
		"truncated": good[:len(good)-3],
		"sha1 log":  append(make([]byte, 32), good[32:]...),
		"bad pcr":   append(bytes.Clone(good), 99, 0, 0, 0),
	} {
		if _, err := Parse(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%s) = %v, want ErrMalformed", name, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample().Marshal())
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 1<<16 {
			return
		}
		l, err := Parse(data)
		if err != nil {
			return
		}
		for _, a := range l.Algs {
			l.Replay(a)
		}
		if _, err := Parse(l.Marshal()); err != nil {
			t.Fatalf("re-parse: %v", err)
		}
	})
}
