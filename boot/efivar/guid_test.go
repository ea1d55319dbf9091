package efivar

import (
	"errors"
	"testing"
)

func TestGUID(t *testing.T) {
	// EFI_GLOBAL_VARIABLE as UEFI lays it out in memory: the first three
	// fields little-endian.
	want := GUID{0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11, 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c}
	if Global != want {
		t.Errorf("Global = % x, want % x", Global[:], want[:])
	}
	for _, s := range []string{"8be4df61-93ca-11d2-aa0d-00e098032b8c", "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"} {
		g, err := ParseGUID(s)
		if err != nil || g.String() != s {
			t.Errorf("ParseGUID(%q).String() = %q, %v, want %q", s, g.String(), err, s)
		}
	}
	if g, err := ParseGUID("8BE4DF61-93CA-11D2-AA0D-00E098032B8C"); err != nil || g != Global {
		t.Errorf("ParseGUID(upper case) = %v, %v, want %v", g, err, Global)
	}
	for _, s := range []string{"", "8be4df61-93ca-11d2-aa0d-00e098032b8", "8be4df61x93ca-11d2-aa0d-00e098032b8c", "8be4df61-93ca-11d2-aa0d-00e098032b8g"} {
		if _, err := ParseGUID(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseGUID(%q) = %v, want ErrMalformed", s, err)
		}
	}
}

// maxFuzz caps fuzz inputs: a load option or a GPT's first blocks are
// far smaller.
const maxFuzz = 64 << 10

func FuzzParseGUID(f *testing.F) {
	f.Add("8be4df61-93ca-11d2-aa0d-00e098032b8c")
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			return
		}
		if g2, err := ParseGUID(g.String()); err != nil || g2 != g {
			t.Fatalf("ParseGUID(%q).String() does not parse back: %v", s, err)
		}
	})
}
