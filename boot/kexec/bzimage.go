package kexec

import (
	"encoding/binary"
	"fmt"
)

// Offsets in the x86 boot protocol header (Documentation/arch/x86/boot.rst).
const (
	offSetupSects = 0x1f1
	offSysSize    = 0x1f4
	offBootFlag   = 0x1fe
	offHeader     = 0x202
	offVersion    = 0x206
	hdrEnd        = 0x268
)

// CheckBzImage checks that data looks like a complete x86 bzImage of
// size bytes. hdr must hold at least the first 0x268 bytes when the file is
// that long. The header's syssize says how long the protected-mode kernel
// is, which catches a truncated copy before kexec sees it.
func CheckBzImage(hdr []byte, size int64) error {
	if size < hdrEnd || len(hdr) < hdrEnd {
		return fmt.Errorf("%d bytes is too short to be a kernel", size)
	}
	if binary.LittleEndian.Uint16(hdr[offBootFlag:]) != 0xaa55 || string(hdr[offHeader:offHeader+4]) != "HdrS" {
		return fmt.Errorf("not an x86 bzImage (no boot protocol header; an ELF vmlinux or a compressed file cannot be kexec'd)")
	}
	if v := binary.LittleEndian.Uint16(hdr[offVersion:]); v < 0x020c {
		return fmt.Errorf("boot protocol %d.%02d is older than 2.12, which kexec needs", v>>8, v&0xff)
	}
	want := SetupSize(hdr) + int64(binary.LittleEndian.Uint32(hdr[offSysSize:]))*16
	if size < want {
		return fmt.Errorf("truncated: %d bytes, but its header says the kernel is %d bytes", size, want)
	}
	return nil
}

// SetupSize is where a bzImage's protected-mode kernel starts: after the
// boot sector and its setup sectors (0 of them meaning 4). hdr holds the
// header (CheckBzImage).
func SetupSize(hdr []byte) int64 {
	setup := int64(hdr[offSetupSects])
	if setup == 0 {
		setup = 4
	}
	return (setup + 1) * 512
}
