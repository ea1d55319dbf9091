package disk

import (
	"encoding/binary"
	"fmt"
)

// MD describes one member of an md RAID1 array built for a test disk: the
// partition holding it carries the array's data (a filesystem image) and
// an md superblock of Version "1.0" (at the end; the filesystem starts at
// the partition's start, as firmware-bootable mirrors are laid out) or
// "1.2" (4 KiB in; the data 1 MiB in, mdadm's default).
//
// The superblock is written here because the machines that build test
// disks have no md driver, which mdadm --create needs; what is written is
// checked against mdadm --examine (md_test.go) and assembled by the Debian
// kernel's md driver in the VM tests.
type MD struct {
	Version   string
	UUID      [16]byte
	Name      string // "host:boot"
	RaidDisks int
	DevNumber int // this member's slot
}

// mdDataOffset is where a 1.2 member's data starts (sectors).
const mdDataOffset = 2048

// mdLayout returns the data offset and superblock offset, in sectors, of
// a member of size bytes.
func (m MD) layout(size int64) (data, super int64, err error) {
	sectors := size >> 9
	switch m.Version {
	case "1.2":
		return mdDataOffset, 8, nil
	case "1.0":
		return 0, (sectors - 16) &^ 7, nil
	}
	return 0, 0, fmt.Errorf("md metadata %q: only 1.0 and 1.2 are built", m.Version)
}

// superblock returns the 4 KiB superblock of a member of size bytes whose
// data is dataSectors long.
func (m MD) superblock(size int64) ([]byte, int64, int64, error) {
	dataOff, superOff, err := m.layout(size)
	if err != nil {
		return nil, 0, 0, err
	}
	dataSize := size>>9 - dataOff
	if m.Version == "1.0" {
		dataSize = superOff
	}
	// The array's size: whole 64 KiB units of the data, as mdadm rounds.
	arraySize := dataSize &^ 127
	b := make([]byte, 4096)
	le := binary.LittleEndian
	const ctime = 1700000000
	le.PutUint32(b[0:], 0xa92b4efc)
	le.PutUint32(b[4:], 1) // major_version
	copy(b[16:32], m.UUID[:])
	copy(b[32:64], m.Name)
	le.PutUint64(b[64:], ctime)
	le.PutUint32(b[72:], 1) // level: RAID1
	le.PutUint64(b[80:], uint64(arraySize))
	le.PutUint32(b[92:], uint32(m.RaidDisks))
	le.PutUint64(b[128:], uint64(dataOff))
	le.PutUint64(b[136:], uint64(dataSize))
	le.PutUint64(b[144:], uint64(superOff))
	le.PutUint32(b[160:], uint32(m.DevNumber))
	copy(b[168:184], m.UUID[:])
	b[168] ^= byte(1 + m.DevNumber)   // a distinct device UUID per member
	le.PutUint64(b[192:], ctime)      // utime
	le.PutUint64(b[200:], 1)          // events
	le.PutUint64(b[208:], ^uint64(0)) // resync_offset: clean
	maxDev := m.RaidDisks
	le.PutUint32(b[220:], uint32(maxDev))
	for i := 0; i < maxDev; i++ {
		le.PutUint16(b[256+2*i:], uint16(i)) // dev_roles: slot i is member i
	}
	le.PutUint32(b[216:], mdChecksum(b[:256+2*maxDev]))
	return b, dataOff << 9, superOff << 9, nil
}

// mdChecksum is the 1.x superblock checksum (the kernel's calc_sb_1_csum):
// the little-endian 32-bit words summed in 64 bits, sb_csum counted as
// zero, folded to 32.
func mdChecksum(sb []byte) uint32 {
	var sum uint64
	i := 0
	for ; i+4 <= len(sb); i += 4 {
		if i == 216 {
			continue
		}
		sum += uint64(binary.LittleEndian.Uint32(sb[i:]))
	}
	if len(sb)-i == 2 {
		sum += uint64(binary.LittleEndian.Uint16(sb[i:]))
	}
	return uint32(sum&0xffffffff) + uint32(sum>>32)
}
