package efivar

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// LoadOptionActive is the EFI_LOAD_OPTION attribute that lets the boot
// manager boot an option; efibootmgr sets it on the entries it creates.
const LoadOptionActive = 0x1

// LoadOption is an EFI_LOAD_OPTION, the data of a Boot#### variable
// (UEFI 2.10, 3.1.3 Load Options).
type LoadOption struct {
	Attributes   uint32
	Description  string
	FilePath     DevicePath
	OptionalData []byte // passed to the loaded image; often empty
}

// ParseLoadOption parses the data of a Boot#### variable.
func ParseLoadOption(b []byte) (LoadOption, error) {
	var o LoadOption
	if len(b) < 6 {
		return o, fmt.Errorf("load option of %d bytes, less than its 6-byte header: %w", len(b), ErrMalformed)
	}
	b = bytes.Clone(b) // the nodes' Data and OptionalData share it
	o.Attributes = binary.LittleEndian.Uint32(b)
	fpl := int(binary.LittleEndian.Uint16(b[4:]))
	rest := b[6:]
	rest = rest[:len(rest)&^1]
	u, ok := utf16z(rest)
	if !ok {
		return o, fmt.Errorf("load option: description not NUL-terminated: %w", ErrMalformed)
	}
	o.Description = string(utf16.Decode(u))
	off := 6 + 2*len(u) + 2
	if fpl > len(b)-off {
		return o, fmt.Errorf("load option %q: FilePathListLength %d, but %d bytes follow the description: %w", o.Description, fpl, len(b)-off, ErrMalformed)
	}
	dp, err := ParseDevicePath(b[off : off+fpl])
	if err != nil {
		return o, fmt.Errorf("load option %q: %w", o.Description, err)
	}
	o.FilePath = dp
	o.OptionalData = b[off+fpl:]
	return o, nil
}

// Marshal encodes o.
func (o LoadOption) Marshal() ([]byte, error) {
	desc, err := EncodeUTF16(o.Description)
	if err != nil {
		return nil, fmt.Errorf("load option description: %w", err)
	}
	dp, err := o.FilePath.Marshal()
	if err != nil {
		return nil, fmt.Errorf("load option %q: %w", o.Description, err)
	}
	if len(dp) > 0xffff {
		return nil, fmt.Errorf("load option %q: device path of %d bytes, longer than 65535", o.Description, len(dp))
	}
	b := binary.LittleEndian.AppendUint32(nil, o.Attributes)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(dp)))
	b = append(b, desc...)
	b = append(b, dp...)
	return append(b, o.OptionalData...), nil
}

// File is the path of the file o boots (\EFI\debian\shimx64.efi), or ""
// if its device path names none.
func (o LoadOption) File() string { return o.FilePath.File() }
