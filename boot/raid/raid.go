// Package raid assembles Linux software RAID (md) arrays read-only, so a
// /boot mirrored across two disks (md RAID1, as server installers lay it
// out) can be read by the bootloader.
//
// Members are found by their superblock (ParseSuperblock: metadata 0.90,
// 1.0, 1.1 and 1.2), grouped by array UUID, and assembled through the md
// driver's sysfs interface (new_array, metadata_version, new_dev,
// array_state=readonly): the kernel validates the superblocks itself, and
// a read-only array never resyncs, writes a superblock or bumps an event
// count, so the bootloader leaves the mirror exactly as it found it.
//
// We do not use mdadm: it is a C program with its own configuration, udev
// rules and monitoring, the opposite of what a Go-only initramfs in SPI
// flash carries, and the bootloader needs only to read. u-root has no md
// support.
package raid

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Magic is the md superblock magic, in both metadata formats.
const Magic = 0xa92b4efc

// Superblock is what a member's md superblock says of its array.
type Superblock struct {
	// Version is the metadata version as md's sysfs takes it: "0.90",
	// "1.0", "1.1" or "1.2".
	Version string
	// UUID identifies the array; members with the same UUID belong
	// together.
	UUID [16]byte
	// Name is the array's name (1.x only), "host:boot" as mdadm writes it.
	Name string
	// Level is the RAID level (1 for a mirror).
	Level int32
	// RaidDisks is how many members the array has.
	RaidDisks uint32
	// Events counts superblock updates; a stale member has fewer.
	Events uint64
}

// UUIDString formats the array UUID as mdadm does (four groups of 8 hex
// digits, colon separated).
func (s Superblock) UUIDString() string {
	u := s.UUID
	return fmt.Sprintf("%x:%x:%x:%x", u[0:4], u[4:8], u[8:12], u[12:16])
}

// Offsets returns where each metadata version keeps its superblock on a
// device of size bytes, in the order they are tried.
func Offsets(size int64) map[string]int64 {
	sectors := size >> 9
	out := map[string]int64{"1.2": 4096, "1.1": 0}
	if sectors >= 16 {
		out["1.0"] = ((sectors - 16) &^ 7) << 9
	}
	if sectors >= 128 {
		out["0.90"] = ((sectors &^ 127) - 128) << 9
	}
	return out
}

// ParseSuperblock reads a superblock of the given version from b, the
// bytes at its offset (at least 256 bytes for 1.x, 164 for 0.90). ok is
// false when b holds none.
func ParseSuperblock(version string, b []byte) (sb Superblock, ok bool) {
	le := binary.LittleEndian
	if len(b) < 164 || le.Uint32(b[0:]) != Magic {
		return sb, false
	}
	sb.Version = version
	if version == "0.90" {
		if le.Uint32(b[4:]) != 0 || le.Uint32(b[8:]) != 90 {
			return Superblock{}, false
		}
		copy(sb.UUID[0:4], b[5*4:6*4])
		copy(sb.UUID[4:16], b[13*4:16*4])
		sb.Level = int32(le.Uint32(b[7*4:]))
		sb.RaidDisks = le.Uint32(b[10*4:])
		// The generic state section starts at word 32; on a
		// little-endian host events_lo is its word 7, events_hi word 8.
		sb.Events = uint64(le.Uint32(b[40*4:]))<<32 | uint64(le.Uint32(b[39*4:]))
		return sb, sb.RaidDisks > 0 && sb.RaidDisks <= 64
	}
	if len(b) < 256 || le.Uint32(b[4:]) != 1 {
		return Superblock{}, false
	}
	copy(sb.UUID[:], b[16:32])
	name := b[32:64]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	sb.Name = string(name)
	sb.Level = int32(le.Uint32(b[72:]))
	sb.RaidDisks = le.Uint32(b[92:])
	sb.Events = le.Uint64(b[200:])
	return sb, sb.RaidDisks > 0 && sb.RaidDisks <= 1920
}
