package uki_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/uki"
	"github.com/warmboot/warmboot/boot/uki/ukitest"
	"github.com/warmboot/warmboot/internal/testtool"
)

func sec(name, data string) ukitest.Section { return ukitest.Section{Name: name, Data: []byte(data)} }

func open(t *testing.T, b []byte) (*uki.UKI, error) {
	t.Helper()
	return uki.Open(bytes.NewReader(b), int64(len(b)))
}

func TestDescribe(t *testing.T) {
	b := ukitest.Build(
		sec(".osrel", "ID=debian\nPRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nVERSION_ID=\"13\"\n"),
		sec(".uname", "6.12.9-amd64"),
		sec(".cmdline", "root=/dev/vda2 ro quiet\n\x00"),
		sec(".initrd", "INITRD"),
		sec(".linux", "KERNEL"),
	)
	u, err := open(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if u.NumProfiles() != 1 {
		t.Errorf("NumProfiles = %d, want 1", u.NumProfiles())
	}
	info, err := u.Describe(bytes.NewReader(b), 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Title != "Debian GNU/Linux 13 (trixie)" || info.Version != "13" || info.Uname != "6.12.9-amd64" || info.SortKey != "debian" ||
		info.Cmdline != "root=/dev/vda2 ro quiet" || !info.HasCmdline {
		t.Errorf("Describe = %+v", info)
	}
	if got := strings.Join(info.Sections, " "); got != ".osrel .uname .cmdline .initrd .linux" {
		t.Errorf("Sections = %q", got)
	}
	secs, _ := u.Sections(0)
	k, err := secs[".linux"].Read(bytes.NewReader(b), 100)
	if err != nil || string(k) != "KERNEL" {
		t.Errorf(".linux = %q, %v; want KERNEL (cut to VirtualSize)", k, err)
	}
}

func TestProfiles(t *testing.T) {
	b := ukitest.Build(
		sec(".osrel", "ID=fedora\nNAME=Fedora\n"),
		sec(".linux", "KERNEL"),
		sec(".initrd", "INITRD"),
		sec(".profile", "ID=default\nTITLE='Normal boot'\n"),
		sec(".cmdline", "quiet"),
		sec(".profile", "ID=rescue\nTITLE=\"Rescue shell\"\n"),
		sec(".cmdline", "rescue"),
		sec(".initrd", "RESCUE"),
	)
	u, err := open(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if u.NumProfiles() != 2 {
		t.Fatalf("NumProfiles = %d, want 2", u.NumProfiles())
	}
	for i, want := range []struct{ id, title, cmdline, initrd string }{
		{"default", "Normal boot", "quiet", "INITRD"},
		{"rescue", "Rescue shell", "rescue", "RESCUE"},
	} {
		info, err := u.Describe(bytes.NewReader(b), i)
		if err != nil {
			t.Fatal(err)
		}
		secs, _ := u.Sections(i)
		initrd, _ := secs[".initrd"].Read(bytes.NewReader(b), 100)
		if info.ProfileID != want.id || info.ProfileTitle != want.title || info.Cmdline != want.cmdline || string(initrd) != want.initrd {
			t.Errorf("profile %d = %+v initrd %q, want %+v", i, info, initrd, want)
		}
	}
	if _, err := u.Sections(2); err == nil {
		t.Error("Sections(2) of a 2-profile UKI succeeded")
	}
}

func TestMalformed(t *testing.T) {
	good := ukitest.Build(sec(".linux", "KERNEL"), sec(".initrd", "INITRD"))
	le := binary.LittleEndian
	// The section table starts at 0x80+24+240; .linux is section 1.
	const tbl = 0x80 + 24 + 240
	for _, tc := range []struct {
		name string
		edit func(b []byte) []byte
		want string
	}{
		{"not MZ", func(b []byte) []byte { b[0] = 'X'; return b }, "no MZ header"},
		{"truncated", func(b []byte) []byte { return b[:0x100] }, "does not fit"},
		{"ARM", func(b []byte) []byte { le.PutUint16(b[0x84:], 0xaa64); return b }, "not x86-64"},
		{"PE32", func(b []byte) []byte { le.PutUint16(b[0x98:], 0x10b); return b }, "not PE32+"},
		{"not EFI app", func(b []byte) []byte { le.PutUint16(b[0x98+68:], 3); return b }, "not an EFI application"},
		{"virtual > raw", func(b []byte) []byte { le.PutUint32(b[tbl+40+8:], 0x10000); return b }, "larger than its"},
		{"past end", func(b []byte) []byte { le.PutUint32(b[tbl+40+20:], uint32(len(b))); return b }, "past the end"},
		{"overlap", func(b []byte) []byte { le.PutUint32(b[tbl+80+20:], le.Uint32(b[tbl+40+20:])); return b }, "overlaps"},
		{"in headers", func(b []byte) []byte { le.PutUint32(b[tbl+40+20:], 0x10); return b }, "inside the headers"},
		{"too many sections", func(b []byte) []byte { le.PutUint16(b[0x86:], 0xffff); return b }, "sections"},
		{"duplicate .linux", func(b []byte) []byte { copy(b[tbl+80:tbl+88], ".linux\x00\x00"); return b }, "appears twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := tc.edit(bytes.Clone(good))
			_, err := open(t, b)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open = %v, want an error with %q", err, tc.want)
			}
			if !errors.Is(err, uki.ErrMalformed) && !strings.Contains(err.Error(), "reading") {
				t.Errorf("error %v is not ErrMalformed", err)
			}
		})
	}
	// No kernel: valid PE, not a bootable UKI.
	b := ukitest.Build(sec(".osrel", "ID=x\n"))
	u, err := open(t, b)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Describe(bytes.NewReader(b), 0); err == nil || !strings.Contains(err.Error(), "no .linux") {
		t.Errorf("Describe without .linux = %v", err)
	}
}

func TestParseOSRelease(t *testing.T) {
	m, err := uki.ParseOSRelease([]byte("# c\nNAME=\"Arch \\\"Linux\\\"\"\nID=arch\nX='a b'\nTITLE=Rescue shell\njunk\nA-B=1\nQ=\"unterminated\n\n"))
	want := map[string]string{"NAME": `Arch "Linux"`, "ID": "arch", "X": "a b", "TITLE": "Rescue shell", "Q": `"unterminated`}
	if err != nil || len(m) != len(want) {
		t.Fatalf("ParseOSRelease = %v, %v; want %v", m, err, want)
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %q", k, m[k], v)
		}
	}
}

func FuzzOpen(f *testing.F) {
	f.Add(ukitest.Build(sec(".linux", "K"), sec(".osrel", "ID=x\n"), sec(".cmdline", "c")))
	f.Add(ukitest.Build(sec(".linux", "K"), sec(".profile", "ID=a"), sec(".cmdline", "c"), sec(".profile", "TITLE=b")))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 1<<20 {
			return
		}
		var u *uki.UKI
		var err error
		testtool.Bounded(t, func() { u, err = uki.Open(bytes.NewReader(b), int64(len(b))) })
		if err != nil {
			return
		}
		for i := range u.NumProfiles() {
			secs, err := u.Sections(i)
			if err != nil {
				t.Fatalf("Sections(%d): %v", i, err)
			}
			for _, s := range secs {
				if s.Offset < 0 || s.Offset+s.Size > int64(len(b)) {
					t.Fatalf("section %s %d+%d outside the %d-byte file", s.Name, s.Offset, s.Size, len(b))
				}
			}
			u.Describe(bytes.NewReader(b), i)
		}
	})
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add([]byte("ID=debian\nPRETTY_NAME=\"Debian\"\n"))
	f.Add([]byte("ID=default\nTITLE='x y'\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		uki.ParseOSRelease(b)
	})
}
