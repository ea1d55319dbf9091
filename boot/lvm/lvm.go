// Package lvm activates LVM2 logical volumes read-only, so a /boot (or a
// root holding /boot) on a logical volume can be read by the bootloader.
//
// It reads what lvm itself reads: the physical volume label ("LABELONE" in
// one of the first four sectors, with the PV's UUID and its metadata
// areas), the metadata area header and the volume group's text metadata in
// its ring buffer, and maps each linear logical volume with a read-only
// device-mapper table, as "vgchange -ay --readonly" would. Only what a
// /boot can be on is supported: linear (and one-stripe "striped")
// segments, all of whose PVs are present. Anything else (thin, RAID,
// mirror, snapshot, cache, more stripes) is reported by name and left
// alone, never guessed at.
//
// We do not use lvm2: a C program with a dozen shared libraries, udev
// synchronisation and locking, for a bootloader that only reads. u-root
// has no LVM support.
package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
)

// PV is a physical volume label.
type PV struct {
	UUID string // 32 characters, without the dashes lvm prints
	// MDAs are the metadata areas: offset and size in bytes from the
	// start of the device.
	MDAs [][2]uint64
}

const labelScan = 4 * 512

// maxMetadata bounds the metadata text read: real volume groups have a few
// kilobytes; lvm's default metadata area is 1 MiB.
const maxMetadata = 1 << 20

// ParseLabel finds an LVM2 label in the first 2048 bytes of a device.
func ParseLabel(b []byte) (PV, bool) {
	le := binary.LittleEndian
	for s := 0; s+512 <= len(b) && s < labelScan; s += 512 {
		l := b[s : s+512]
		if string(l[0:8]) != "LABELONE" || string(l[24:32]) != "LVM2 001" {
			continue
		}
		if le.Uint64(l[8:]) != uint64(s/512) {
			continue
		}
		// The CRC covers the label from offset_xl (byte 20) on, with
		// lvm's own initial value.
		if crc(l[20:]) != le.Uint32(l[16:]) {
			continue
		}
		off := int(le.Uint32(l[20:]))
		if off < 32 || off+40 > 512 {
			continue
		}
		h := l[off:]
		pv := PV{UUID: string(h[0:32])}
		p := 40
		// Data areas, then metadata areas, each list ended by zeros.
		for list := 0; list < 2; list++ {
			for p+16 <= len(h) {
				o, sz := le.Uint64(h[p:]), le.Uint64(h[p+8:])
				p += 16
				if o == 0 {
					break
				}
				if list == 1 {
					pv.MDAs = append(pv.MDAs, [2]uint64{o, sz})
				}
			}
		}
		return pv, true
	}
	return PV{}, false
}

// crc is lvm's CRC-32 (the IEEE polynomial, reflected, initial value
// 0xf597a6cf, no final inversion).
func crc(b []byte) uint32 {
	// crc32.Update inverts its state on the way in and out; undo both.
	return ^crc32.Update(^uint32(0xf597a6cf), crc32.IEEETable, b)
}

// mdaMagic starts every metadata area header.
const mdaMagic = " LVM2 x[5A%r0N*>"

// MetadataText returns the current metadata text from a metadata area:
// area is its bytes (header at 0), as read from the device.
func MetadataText(area []byte) (string, error) {
	le := binary.LittleEndian
	if len(area) < 512 || string(area[4:20]) != mdaMagic {
		return "", errors.New("not an LVM2 metadata area (bad magic)")
	}
	if crc(area[4:512]) != le.Uint32(area[0:]) {
		return "", errors.New("LVM2 metadata area header checksum mismatch")
	}
	size := le.Uint64(area[32:])
	// The first raw location is the committed metadata.
	off, n := le.Uint64(area[40:]), le.Uint64(area[48:])
	if off == 0 || n == 0 {
		return "", ErrNoMetadata
	}
	if n > maxMetadata || size < 512 || off >= size || int(size) > len(area) {
		return "", fmt.Errorf("LVM2 metadata of %d bytes at %d in an area of %d: not believable", n, off, size)
	}
	var text []byte
	if off+n <= size {
		text = area[off : off+n]
	} else {
		// The ring buffer wraps to just after the header.
		first := size - off
		if 512+(n-first) > size {
			return "", errors.New("LVM2 metadata wraps past its area")
		}
		text = append(append([]byte(nil), area[off:size]...), area[512:512+(n-first)]...)
	}
	if crc(text) != le.Uint32(area[56:]) {
		return "", errors.New("LVM2 metadata checksum mismatch")
	}
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	return string(text), nil
}

// cleanUUID drops the dashes lvm prints in UUIDs.
func cleanUUID(s string) string { return strings.ReplaceAll(s, "-", "") }
