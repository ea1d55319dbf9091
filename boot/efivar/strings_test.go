package efivar

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestUTF16(t *testing.T) {
	for _, c := range []struct {
		s    string
		want []byte
	}{
		{"", []byte{0, 0}},
		{"abc", []byte{'a', 0, 'b', 0, 'c', 0, 0, 0}},
		{"é", []byte{0xe9, 0, 0, 0}},
		{"𝄞", []byte{0x34, 0xd8, 0x1e, 0xdd, 0, 0}}, // a surrogate pair
	} {
		got, err := EncodeUTF16(c.s)
		if err != nil || !bytes.Equal(got, c.want) {
			t.Errorf("EncodeUTF16(%q) = % x, %v, want % x", c.s, got, err, c.want)
		}
		if s, err := DecodeUTF16(c.want); err != nil || s != c.s {
			t.Errorf("DecodeUTF16(% x) = %q, %v, want %q", c.want, s, err, c.s)
		}
	}
	if _, err := EncodeUTF16("a\x00b"); err == nil {
		t.Errorf("EncodeUTF16 with NUL = nil error, want one")
	}
	if s, err := DecodeUTF16([]byte{'a', 0, 'b', 0}); err != nil || s != "ab" {
		t.Errorf("DecodeUTF16(no NUL) = %q, %v, want \"ab\"", s, err)
	}
	if s, err := DecodeUTF16([]byte{'a', 0, 0, 0, 'b', 0}); err != nil || s != "a" {
		t.Errorf("DecodeUTF16(stuff after NUL) = %q, %v, want \"a\"", s, err)
	}
	if _, err := DecodeUTF16([]byte{'a', 0, 0}); !errors.Is(err, ErrMalformed) {
		t.Errorf("DecodeUTF16(odd length) = %v, want ErrMalformed", err)
	}
}

// The file bootctl set-oneshot debian.conf writes.
func TestLoaderEntryOneShot(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if err := v.WriteString(LoaderEntryOneShot, Loader, AttrPersistent, "debian.conf"); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(v.Dir, "LoaderEntryOneShot-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
	got, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte("\x07\x00\x00\x00d\x00e\x00b\x00i\x00a\x00n\x00.\x00c\x00o\x00n\x00f\x00\x00\x00")
	if !bytes.Equal(got, want) {
		t.Errorf("%s = % x, want % x", file, got, want)
	}
	if s, err := v.ReadString(LoaderEntryOneShot, Loader); err != nil || s != "debian.conf" {
		t.Errorf("ReadString = %q, %v, want \"debian.conf\"", s, err)
	}
}

func FuzzDecodeUTF16(f *testing.F) {
	f.Add([]byte("d\x00e\x00b\x00\x00\x00"))
	f.Add([]byte{0x34, 0xd8, 0x1e, 0xdd, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > maxFuzz {
			return
		}
		s, err := DecodeUTF16(b)
		if err != nil {
			return
		}
		enc, err := EncodeUTF16(s)
		if err != nil {
			t.Fatalf("EncodeUTF16(DecodeUTF16(% x)) = %v", b, err)
		}
		if s2, err := DecodeUTF16(enc); err != nil || s2 != s {
			t.Fatalf("DecodeUTF16(EncodeUTF16(%q)) = %q, %v", s, s2, err)
		}
	})
}
