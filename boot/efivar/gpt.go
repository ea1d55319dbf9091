package efivar

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// maxGPTEntries bounds the partition entry array PartitionOf reads: the
// usual one is 128 entries of 128 bytes; 1 MiB allows any sane disk.
const maxGPTEntries = 1 << 20

// PartitionOf reads partition number part (1-based) from the primary GPT
// of disk, whose logical blocks are sectorSize bytes: its first block and
// size in blocks, and its unique partition GUID, as a Hard Drive device
// path node wants them. It checks the header's signature, its CRC32 and
// that of the entry array, and refuses anything else: a disk without GPT,
// a damaged primary GPT (which firmware would repair from the backup
// before trusting: fix it first, e.g. with sgdisk -v), an unused entry.
func PartitionOf(disk io.ReaderAt, sectorSize int, part int) (start, size uint64, guid GUID, err error) {
	fail := func(format string, args ...any) (uint64, uint64, GUID, error) {
		return 0, 0, GUID{}, fmt.Errorf("GPT: "+format, args...)
	}
	if sectorSize < 512 || sectorSize > 64<<10 || sectorSize&(sectorSize-1) != 0 {
		return fail("sector size %d: want a power of two from 512 to 65536", sectorSize)
	}
	hdr := make([]byte, sectorSize)
	if _, err := disk.ReadAt(hdr, int64(sectorSize)); err != nil {
		return fail("reading header at LBA 1: %w", err)
	}
	if string(hdr[:8]) != "EFI PART" {
		return fail("no \"EFI PART\" signature at LBA 1 (%d-byte sectors): not a GPT disk, or another sector size: %w", sectorSize, ErrMalformed)
	}
	le := binary.LittleEndian
	hsize := le.Uint32(hdr[12:])
	if hsize < 92 || int(hsize) > sectorSize {
		return fail("header size %d outside [92, %d]: %w", hsize, sectorSize, ErrMalformed)
	}
	want := le.Uint32(hdr[16:])
	h := append([]byte(nil), hdr[:hsize]...)
	clear(h[16:20])
	if got := crc32.ChecksumIEEE(h); got != want {
		return fail("header CRC32 %#08x, header says %#08x: the primary GPT is damaged: %w", got, want, ErrMalformed)
	}
	if my := le.Uint64(hdr[24:]); my != 1 {
		return fail("header at LBA 1 says it is at LBA %d: %w", my, ErrMalformed)
	}
	entriesLBA := le.Uint64(hdr[72:])
	n := le.Uint32(hdr[80:])
	esize := le.Uint32(hdr[84:])
	if esize < 128 || esize%128 != 0 || uint64(n)*uint64(esize) > maxGPTEntries {
		return fail("%d entries of %d bytes: want a multiple of 128 bytes, %d in all at most: %w", n, esize, maxGPTEntries, ErrMalformed)
	}
	if part < 1 || part > int(n) {
		return fail("no partition %d: the table has %d entries", part, n)
	}
	if entriesLBA < 2 || entriesLBA > (1<<62)/uint64(sectorSize) {
		return fail("entry array at LBA %d: %w", entriesLBA, ErrMalformed)
	}
	arr := make([]byte, int(n)*int(esize))
	if _, err := disk.ReadAt(arr, int64(entriesLBA)*int64(sectorSize)); err != nil {
		return fail("reading %d entries at LBA %d: %w", n, entriesLBA, err)
	}
	if got, want := crc32.ChecksumIEEE(arr), le.Uint32(hdr[88:]); got != want {
		return fail("entry array CRC32 %#08x, header says %#08x: the primary GPT is damaged: %w", got, want, ErrMalformed)
	}
	e := arr[(part-1)*int(esize):]
	if GUID(e[0:16]) == (GUID{}) {
		return fail("partition %d is unused", part)
	}
	first, last := le.Uint64(e[32:]), le.Uint64(e[40:])
	if last < first {
		return fail("partition %d ends (LBA %d) before it starts (LBA %d): %w", part, last, first, ErrMalformed)
	}
	return first, last - first + 1, GUID(e[16:32]), nil
}
