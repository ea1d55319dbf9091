package efivar

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// GUID is an EFI_GUID in the byte order UEFI stores it: the first three
// fields (4, 2 and 2 bytes) little-endian, the last 8 bytes as written.
type GUID [16]byte

// Vendor GUIDs of the variables this package knows.
var (
	// Global is EFI_GLOBAL_VARIABLE: BootOrder, Boot####, ...
	Global = MustParseGUID("8be4df61-93ca-11d2-aa0d-00e098032b8c")
	// Loader is systemd's Boot Loader Interface vendor GUID.
	Loader = MustParseGUID("4a67b082-0a4c-41cf-b6c7-440b29bb8c4f")
)

// ParseGUID parses the usual text form,
// "8be4df61-93ca-11d2-aa0d-00e098032b8c", in either case.
func ParseGUID(s string) (GUID, error) {
	var g GUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return g, fmt.Errorf("GUID %q: want xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx: %w", s, ErrMalformed)
	}
	var b [16]byte
	if _, err := hex.Decode(b[:], []byte(s[0:8]+s[9:13]+s[14:18]+s[19:23]+s[24:])); err != nil {
		return g, fmt.Errorf("GUID %q: %w", s, ErrMalformed)
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	return g, nil
}

// MustParseGUID is ParseGUID for constants; it panics on error.
func MustParseGUID(s string) GUID {
	g, err := ParseGUID(s)
	if err != nil {
		panic(err)
	}
	return g
}

// String is the lower-case text form efivarfs uses in file names.
func (g GUID) String() string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(g[0:]), binary.LittleEndian.Uint16(g[4:]),
		binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:])
}
