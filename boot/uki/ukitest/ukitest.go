// Package ukitest builds small, valid PE32+ EFI applications with the
// sections a test asks for: UKIs and add-ons for unit tests and fuzz seeds,
// without the systemd stub (the VM tests use the real one).
package ukitest

import (
	"encoding/binary"
)

// Section is one section to add, in file order.
type Section struct {
	Name string
	Data []byte
}

const (
	fileAlign = 0x200
	peOff     = 0x80
	optSize   = 112 + 16*8
)

// Build returns a PE32+ EFI application (x86-64) with a .text section
// followed by secs, each padded to the file alignment, with VirtualSize
// the data's length.
func Build(secs ...Section) []byte {
	all := append([]Section{{Name: ".text", Data: []byte{0xc3}}}, secs...)
	hdrEnd := peOff + 24 + optSize + 40*len(all)
	off := align(hdrEnd)
	out := make([]byte, off)
	out[0], out[1] = 'M', 'Z'
	binary.LittleEndian.PutUint32(out[0x3c:], peOff)
	copy(out[peOff:], "PE\x00\x00")
	coff := out[peOff+4:]
	binary.LittleEndian.PutUint16(coff[0:], 0x8664)
	binary.LittleEndian.PutUint16(coff[2:], uint16(len(all)))
	binary.LittleEndian.PutUint16(coff[16:], optSize)
	binary.LittleEndian.PutUint16(coff[18:], 0x2022)
	opt := out[peOff+24:]
	binary.LittleEndian.PutUint16(opt[0:], 0x20b)
	binary.LittleEndian.PutUint32(opt[32:], 0x1000) // SectionAlignment
	binary.LittleEndian.PutUint32(opt[36:], fileAlign)
	binary.LittleEndian.PutUint16(opt[68:], 10)
	binary.LittleEndian.PutUint32(opt[60:], uint32(off)) // SizeOfHeaders
	binary.LittleEndian.PutUint32(opt[108:], 16)
	va := 0x1000
	for i, s := range all {
		h := out[peOff+24+optSize+40*i:]
		copy(h[:8], s.Name)
		binary.LittleEndian.PutUint32(h[8:], uint32(len(s.Data)))
		binary.LittleEndian.PutUint32(h[12:], uint32(va))
		raw := align(len(s.Data))
		binary.LittleEndian.PutUint32(h[16:], uint32(raw))
		binary.LittleEndian.PutUint32(h[20:], uint32(len(out)))
		out = append(out, s.Data...)
		out = append(out, make([]byte, raw-len(s.Data))...)
		va += (raw + 0xfff) &^ 0xfff
	}
	binary.LittleEndian.PutUint32(opt[56:], uint32(va)) // SizeOfImage
	return out
}

func align(n int) int { return (n + fileAlign - 1) &^ (fileAlign - 1) }
