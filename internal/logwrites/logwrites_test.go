package logwrites

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/warmboot/warmboot/internal/testtool"
)

// log builds a log as QEMU writes it.
func log(ss int, entries ...Entry) []byte {
	le := binary.LittleEndian
	sec := func(f func(b []byte)) []byte { b := make([]byte, ss); f(b); return b }
	out := sec(func(b []byte) {
		le.PutUint64(b, Magic)
		le.PutUint64(b[8:], Version)
		le.PutUint64(b[16:], uint64(len(entries)))
		le.PutUint32(b[24:], uint32(ss))
	})
	for _, e := range entries {
		out = append(out, sec(func(b []byte) {
			le.PutUint64(b, uint64(e.Offset/int64(ss)))
			le.PutUint64(b[8:], uint64(e.Length/int64(ss)))
			le.PutUint64(b[16:], e.Flags)
		})...)
		out = append(out, e.Data...)
	}
	return out
}

func TestReadApply(t *testing.T) {
	a := bytes.Repeat([]byte{'a'}, 1024)
	entries := []Entry{{Offset: 512, Length: 1024, Data: a}, {Flags: Flush}, {Offset: 1024, Length: 512, Flags: Discard}}
	l := log(512, entries...)
	got, err := Read(bytes.NewReader(l), int64(len(l)), 1<<20)
	if err != nil || len(got) != 3 || !bytes.Equal(got[0].Data, a) || got[1].Flags != Flush || got[2].Data != nil {
		t.Fatalf("Read = %+v, %v", got, err)
	}
	img := make([]byte, 2048)
	for _, e := range got {
		if err := Apply(img, e); err != nil {
			t.Fatal(err)
		}
	}
	want := append(append(make([]byte, 512), a[:512]...), make([]byte, 1024)...)
	if !bytes.Equal(img, want) {
		t.Errorf("replayed image differs")
	}
	if err := Apply(make([]byte, 1024), entries[0]); err == nil {
		t.Error("an entry beyond the disk was applied")
	}
	// Torn at the end: the entries before it are read.
	if got, err := Read(bytes.NewReader(l), int64(len(l)-512), 1<<20); err != nil || len(got) != 2 {
		t.Errorf("log cut after an entry: %d entries, %v", len(got), err)
	}
	if got, err := Read(bytes.NewReader(l), 512+512+700, 1<<20); err != nil || len(got) != 0 {
		t.Errorf("log cut in an entry's data: %d entries, %v", len(got), err)
	}
	if _, err := Read(bytes.NewReader(l), int64(len(l)), 100); err == nil {
		t.Error("data beyond the bound was read")
	}
	if _, err := Read(bytes.NewReader(make([]byte, 1024)), 1024, 1<<20); !errors.Is(err, ErrFormat) {
		t.Errorf("zeros: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	f.Add(log(512, Entry{Offset: 512, Length: 512, Data: make([]byte, 512)}, Entry{Flags: Flush}))
	f.Add(log(4096, Entry{Offset: 0, Length: 4096, Flags: Discard}))
	f.Fuzz(func(t *testing.T, data []byte) {
		testtool.Bounded(t, func() {
			es, err := Read(bytes.NewReader(data), int64(len(data)), 1<<20)
			if err != nil {
				return
			}
			img := make([]byte, 1<<16)
			for _, e := range es {
				Apply(img, e)
			}
		})
	})
}
