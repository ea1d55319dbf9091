package discover

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// FSID is what a filesystem's superblock says it is called: what GRUB's
// "search --fs-uuid" and "search --label" match.
type FSID struct {
	Type, UUID, Label string
}

// ProbeSize is how much of a device ParseFSID needs: btrfs keeps its
// superblock at 64 KiB.
const ProbeSize = 0x10000 + 0x1000

// ParseFSID reads the type, UUID and label of an ext2/3/4, XFS, btrfs, ISO
// 9660 or FAT filesystem from the first ProbeSize bytes of a device (fewer is
// fine: what is not there is not found). UUIDs are written as GRUB and
// blkid write them: 8-4-4-4-12 lower-case hex, FAT's serial as XXXX-XXXX.
func ParseFSID(b []byte) (FSID, bool) {
	at := func(off, n int) []byte {
		if off+n > len(b) {
			return nil
		}
		return b[off : off+n]
	}
	if sb := at(1024, 1024); sb != nil && binary.LittleEndian.Uint16(sb[0x38:]) == 0xEF53 {
		return FSID{"ext", uuid(sb[0x68:0x78]), cstr(sb[0x78:0x88])}, true
	}
	if sb := at(0, 120); sb != nil && string(sb[:4]) == "XFSB" {
		return FSID{"xfs", uuid(sb[32:48]), cstr(sb[108:120])}, true
	}
	if sb := at(0x10000, 0x12B+256); sb != nil && string(sb[0x40:0x48]) == "_BHRfS_M" {
		return FSID{"btrfs", uuid(sb[0x20:0x30]), cstr(sb[0x12B : 0x12B+256])}, true
	}
	if pvd := at(0x8000, 2048); pvd != nil && pvd[0] == 1 && string(pvd[1:6]) == "CD001" {
		// GRUB names an ISO 9660 volume by its creation date
		// ("2024-06-29-09-38-27-00") and its volume identifier.
		d := pvd[813:829]
		u := fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", d[0:4], d[4:6], d[6:8], d[8:10], d[10:12], d[12:14], d[14:16])
		return FSID{"iso9660", u, strings.TrimRight(string(pvd[40:72]), " ")}, true
	}
	if bs := at(0, 512); bs != nil && bs[510] == 0x55 && bs[511] == 0xAA {
		switch {
		case string(bs[0x52:0x57]) == "FAT32":
			return FSID{"vfat", serial(bs[0x43:0x47]), fatLabel(bs[0x47:0x52])}, true
		case string(bs[0x36:0x39]) == "FAT":
			return FSID{"vfat", serial(bs[0x27:0x2B]), fatLabel(bs[0x2B:0x36])}, true
		}
	}
	return FSID{}, false
}

func uuid(u []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

func serial(s []byte) string {
	v := binary.LittleEndian.Uint32(s)
	return fmt.Sprintf("%04X-%04X", v>>16, v&0xffff)
}

func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func fatLabel(b []byte) string {
	l := strings.TrimRight(string(b), " ")
	if l == "NO NAME" {
		return ""
	}
	return l
}
