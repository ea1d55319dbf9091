package efivar

import (
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf16"
)

// Variables of systemd's Boot Loader Interface
// (https://systemd.io/BOOT_LOADER_INTERFACE/), all under the Loader GUID
// and all NUL-terminated UTF-16LE strings. The OS writes the first two
// with AttrPersistent (as bootctl set-oneshot and set-default do); the
// boot loader writes the others with AttrVolatile, for one boot.
const (
	LoaderEntryOneShot  = "LoaderEntryOneShot"  // entry to boot once
	LoaderEntryDefault  = "LoaderEntryDefault"  // default entry
	LoaderEntrySelected = "LoaderEntrySelected" // entry booted this time
	LoaderInfo          = "LoaderInfo"          // boot loader name and version
	LoaderBootCountPath = "LoaderBootCountPath" // boot-counted entry file to rename on success
)

// EncodeUTF16 encodes s as NUL-terminated UTF-16LE. s must not hold NUL.
func EncodeUTF16(s string) ([]byte, error) {
	if strings.IndexByte(s, 0) >= 0 {
		return nil, fmt.Errorf("string %q holds NUL", s)
	}
	u := utf16.Encode([]rune(s))
	b := make([]byte, 0, 2*len(u)+2)
	for _, c := range u {
		b = binary.LittleEndian.AppendUint16(b, c)
	}
	return append(b, 0, 0), nil
}

// DecodeUTF16 decodes UTF-16LE up to the first NUL or the end of b.
// Unpaired surrogates become U+FFFD.
func DecodeUTF16(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("UTF-16 string of %d bytes, an odd number: %w", len(b), ErrMalformed)
	}
	u, _ := utf16z(b)
	return string(utf16.Decode(u)), nil
}

// utf16z returns the UTF-16 code units of b before the first NUL, and
// whether there was one.
func utf16z(b []byte) ([]uint16, bool) {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.LittleEndian.Uint16(b[i:])
		if c == 0 {
			return u, true
		}
		u = append(u, c)
	}
	return u, false
}

// ReadString reads a variable holding a UTF-16 string.
func (v Vars) ReadString(name string, guid GUID) (string, error) {
	_, data, err := v.Read(name, guid)
	if err != nil {
		return "", err
	}
	s, err := DecodeUTF16(data)
	if err != nil {
		return "", v.err("reading", name, guid, err)
	}
	return s, nil
}

// WriteString sets a variable to s as NUL-terminated UTF-16LE.
func (v Vars) WriteString(name string, guid GUID, attrs uint32, s string) error {
	b, err := EncodeUTF16(s)
	if err != nil {
		return v.err("writing", name, guid, err)
	}
	return v.Write(name, guid, attrs, b)
}
