package discover

import (
	"encoding/binary"
	"io"
	"os"
)

// ExtJournal is what an ext2/3/4 superblock says about the journal.
type ExtJournal struct {
	Journal       bool // has_journal
	NeedsRecovery bool // needs_recovery: not cleanly unmounted
}

// ParseExtSuperblock reads the journal flags from the 1024 bytes of an
// ext superblock (at byte 1024 of the device); ok is false when sb is not
// one.
func ParseExtSuperblock(sb []byte) (j ExtJournal, ok bool) {
	if len(sb) < 0x64 || binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		return j, false
	}
	compat := binary.LittleEndian.Uint32(sb[0x5C:])
	incompat := binary.LittleEndian.Uint32(sb[0x60:])
	return ExtJournal{Journal: compat&0x4 != 0, NeedsRecovery: incompat&0x4 != 0}, true
}

// readHead reads the first ProbeSize bytes of a device (fewer if it is
// smaller), where the superblocks ParseFSID and ParseExtSuperblock read
// are.
func readHead(dev string) []byte {
	f, err := os.Open(dev)
	if err != nil {
		return nil
	}
	defer f.Close()
	b := make([]byte, ProbeSize)
	n, _ := io.ReadFull(f, b)
	return b[:n]
}

// ReadFSID reads the filesystem identity of a device (a host path such as
// /dev/nvme0n1p2); the zero FSID when it cannot be read.
func ReadFSID(dev string) FSID {
	id, _ := ParseFSID(readHead(dev))
	return id
}
