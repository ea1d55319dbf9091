// Package logwrites reads the write log of QEMU's blklogwrites block
// driver (the format of the kernel's dm-log-writes target, which xfstests
// replays), so that a test can rebuild a disk as it stood after each
// write the guest made: every prefix of the log is a power cut at that
// instant.
//
// The log is a superblock sector (magic, version, entry count, sector
// size), then for each entry a sector holding its header (sector, number
// of sectors, flags) followed, except for discards, by its data. QEMU
// updates the entry count on flushes only, so Read reads entries up to
// the end of the file and checks each.
package logwrites

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Magic and Version head a log (dm-log-writes.c's WRITE_LOG_MAGIC).
const (
	Magic   = 0x6a736677736872
	Version = 1
)

// Entry flags.
const (
	Flush   = 1 << 0
	FUA     = 1 << 1
	Discard = 1 << 2
	Mark    = 1 << 3
	flags   = Flush | FUA | Discard | Mark
)

// ErrFormat is a log that is not one.
var ErrFormat = errors.New("not a dm-log-writes log")

// Entry is one logged request: Data (nil for a flush or a discard) went
// to byte Offset of the disk.
type Entry struct {
	Offset, Length int64
	Flags          uint64
	Data           []byte
}

// Read reads every entry of the log in r, in order. max bounds the data
// it holds in memory.
func Read(r io.ReaderAt, size, max int64) ([]Entry, error) {
	hdr := make([]byte, 28)
	if _, err := r.ReadAt(hdr, 0); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	le := binary.LittleEndian
	ss := int64(le.Uint32(hdr[24:]))
	if le.Uint64(hdr) != Magic || le.Uint64(hdr[8:]) != Version || ss < 512 || ss > 1<<16 || ss&(ss-1) != 0 {
		return nil, fmt.Errorf("%w: bad superblock", ErrFormat)
	}
	var out []Entry
	var held int64
	ent := make([]byte, 32)
	for off := ss; off+ss <= size; {
		if _, err := r.ReadAt(ent, off); err != nil {
			return nil, err
		}
		sector, n, fl := le.Uint64(ent), le.Uint64(ent[8:]), le.Uint64(ent[16:])
		if fl&^flags != 0 || n > uint64(size/ss) || sector > 1<<50 {
			return nil, fmt.Errorf("%w: entry %d at byte %d: flags %#x, %d sectors", ErrFormat, len(out), off, fl, n)
		}
		off += ss
		e := Entry{Offset: int64(sector) * ss, Length: int64(n) * ss, Flags: fl}
		if fl&Discard == 0 && n > 0 {
			if off+e.Length > size {
				break // torn at the end: QEMU was stopped mid-entry
			}
			if held += e.Length; held > max {
				return nil, fmt.Errorf("log data exceeds %d bytes", max)
			}
			e.Data = make([]byte, e.Length)
			if _, err := r.ReadAt(e.Data, off); err != nil {
				return nil, err
			}
			off += e.Length
		}
		out = append(out, e)
	}
	return out, nil
}

// Apply writes e to the disk image img (a discard zeroes, as the replay
// tools do). Parts beyond img are an error.
func Apply(img []byte, e Entry) error {
	if e.Data == nil && e.Flags&Discard == 0 {
		return nil
	}
	if e.Offset < 0 || e.Offset+e.Length > int64(len(img)) {
		return fmt.Errorf("entry at byte %d (%d bytes) is outside the %d-byte disk", e.Offset, e.Length, len(img))
	}
	if e.Flags&Discard != 0 {
		clear(img[e.Offset : e.Offset+e.Length])
		return nil
	}
	copy(img[e.Offset:], e.Data)
	return nil
}
