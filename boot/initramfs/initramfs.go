// Package initramfs reads files out of an initramfs image the way the
// kernel unpacks it (init/initramfs.c): a sequence of newc cpio archives,
// each uncompressed or compressed (gzip, zstd), with NUL padding between;
// a later file of the same name replaces an earlier one.
//
// warmswap uses it to read the trust policy and keys baked into the
// bootloader image it is about to re-enter, so that it checks a target
// against exactly the keys the bootloader will apply. cavaliergopher/cpio
// reads each archive; what it lacks (and u-root's pkg/cpio too) is walking
// a concatenation of compressed and plain members, which needs to know
// where a compressed member ends: for zstd that is found from the frame's
// block headers without decompressing.
package initramfs

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/cavaliergopher/cpio"
	"github.com/klauspost/compress/zstd"
)

// MaxUnpacked bounds what one compressed member may expand to.
const MaxUnpacked = 1 << 30

var (
	cpioMagic = []byte("07070")
	gzipMagic = []byte{0x1f, 0x8b}
	zstdMagic = []byte{0x28, 0xb5, 0x2f, 0xfd}
)

// Read returns the regular files of img whose names (without a leading
// "/") keep accepts, with their contents.
func Read(img []byte, keep func(name string) bool) (Files, error) {
	files := Files{}
	off := 0
	for off < len(img) {
		rest := img[off:]
		switch {
		case rest[0] == 0:
			off++
		case bytes.HasPrefix(rest, cpioMagic):
			n, err := readArchive(rest, keep, files)
			if err != nil {
				return nil, fmt.Errorf("cpio archive at byte %d: %w", off, err)
			}
			off += n
		case bytes.HasPrefix(rest, gzipMagic):
			br := bytes.NewReader(rest)
			zr, err := gzip.NewReader(br)
			if err != nil {
				return nil, fmt.Errorf("gzip member at byte %d: %w", off, err)
			}
			zr.Multistream(false)
			data, err := readAll(zr)
			if err != nil {
				return nil, fmt.Errorf("gzip member at byte %d: %w", off, err)
			}
			if err := readArchives(data, keep, files); err != nil {
				return nil, fmt.Errorf("gzip member at byte %d: %w", off, err)
			}
			off += len(rest) - br.Len()
		case bytes.HasPrefix(rest, zstdMagic):
			n, err := zstdFrameSize(rest)
			if err != nil {
				return nil, fmt.Errorf("zstd frame at byte %d: %w", off, err)
			}
			zr, err := zstd.NewReader(bytes.NewReader(rest[:n]), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(MaxUnpacked))
			if err != nil {
				return nil, fmt.Errorf("zstd frame at byte %d: %w", off, err)
			}
			data, err := readAll(zr)
			zr.Close()
			if err != nil {
				return nil, fmt.Errorf("zstd frame at byte %d: %w", off, err)
			}
			if err := readArchives(data, keep, files); err != nil {
				return nil, fmt.Errorf("zstd frame at byte %d: %w", off, err)
			}
			off += n
		default:
			return nil, fmt.Errorf("%w: unknown data at byte %d (%x): warmboot reads plain, gzip and zstd cpio archives", ErrFormat, off, rest[:min(len(rest), 4)])
		}
	}
	return files, nil
}

func readAll(r io.Reader) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxUnpacked+1))
	if err == nil && len(data) > MaxUnpacked {
		err = fmt.Errorf("expands to more than %d MiB", MaxUnpacked>>20)
	}
	return data, err
}

// readArchives reads the uncompressed content of a compressed member: one
// or more archives with NUL padding (a member holding compressed data
// again is not something the kernel unpacks).
func readArchives(data []byte, keep func(string) bool, files map[string][]byte) error {
	off, err := readPlain(data, keep, files)
	if err != nil {
		return err
	}
	if off < len(data) {
		return fmt.Errorf("%w: no cpio archive at byte %d of the decompressed data", ErrFormat, off)
	}
	return nil
}

// readPlain reads uncompressed archives and their NUL padding from the
// start of data into files, and returns where the first byte that begins
// neither is (len(data) when there is none).
func readPlain(data []byte, keep func(string) bool, files map[string][]byte) (int, error) {
	off := 0
	for off < len(data) {
		switch {
		case data[off] == 0:
			off++
		case bytes.HasPrefix(data[off:], cpioMagic):
			n, err := readArchive(data[off:], keep, files)
			if err != nil {
				return off, err
			}
			off += n
		default:
			return off, nil
		}
	}
	return off, nil
}

// readArchive reads one archive up to its trailer and returns its length.
func readArchive(data []byte, keep func(string) bool, files map[string][]byte) (int, error) {
	br := bytes.NewReader(data)
	r := cpio.NewReader(br)
	for {
		h, err := r.Next()
		if err == io.EOF {
			// The trailer, or the end of the data (which the kernel
			// accepts too).
			return len(data) - br.Len(), nil
		}
		if err != nil {
			return 0, err
		}
		// cavaliergopher/cpio parses the size field with ParseInt, so
		// "-1000000" is a negative size its Read then slices with. No
		// cpio writer produces a sign; the kernel's hex parser stops at
		// it. Refuse the archive rather than guess.
		if h.Size < 0 {
			return 0, fmt.Errorf("%w: %s: size field is negative", ErrFormat, h.Name)
		}
		// The kernel creates names relative to the root of rootfs;
		// "/a", "./a" and "a" are one file. A name that cleans to the
		// root itself is not a file the kernel could create.
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if name == "" || !h.Mode.IsRegular() || !keep(name) {
			continue
		}
		b, err := io.ReadAll(r)
		if err != nil {
			return 0, err
		}
		if int64(len(b)) != h.Size {
			return 0, fmt.Errorf("%s: %w", name, io.ErrUnexpectedEOF)
		}
		files[name] = b
	}
}

// zstdFrameSize walks one zstd frame's header and block headers (RFC 8878
// section 3.1.1) to find where it ends.
func zstdFrameSize(b []byte) (int, error) {
	if len(b) < 5 {
		return 0, io.ErrUnexpectedEOF
	}
	fhd := b[4]
	single := fhd&0x20 != 0
	checksum := fhd&0x04 != 0
	n := 5
	if !single {
		n++ // window descriptor
	}
	n += []int{0, 1, 2, 4}[fhd&3]
	switch fcs := fhd >> 6; {
	case fcs == 0 && single:
		n++
	case fcs == 1:
		n += 2
	case fcs == 2:
		n += 4
	case fcs == 3:
		n += 8
	}
	for {
		if n+3 > len(b) {
			return 0, io.ErrUnexpectedEOF
		}
		h := uint32(b[n]) | uint32(b[n+1])<<8 | uint32(b[n+2])<<16
		n += 3
		last, typ, size := h&1 != 0, (h>>1)&3, int(h>>3)
		switch typ {
		case 0, 2: // raw, compressed
			n += size
		case 1: // RLE: one byte repeated
			n++
		default:
			return 0, fmt.Errorf("%w: reserved zstd block type", ErrFormat)
		}
		if n > len(b) {
			return 0, io.ErrUnexpectedEOF
		}
		if last {
			break
		}
	}
	if checksum {
		n += 4
	}
	if n > len(b) {
		return 0, io.ErrUnexpectedEOF
	}
	return n, nil
}

// ReadPlain reads the uncompressed archives at the start of data, with
// their NUL padding, up to the first byte that begins neither: the
// initramfs a kernel carries inside itself (CONFIG_INITRAMFS_SOURCE),
// found in the kernel's image with the kernel's own data after it.
func ReadPlain(data []byte, keep func(name string) bool) (Files, error) {
	files := Files{}
	if off, err := readPlain(data, keep, files); err != nil {
		return nil, fmt.Errorf("cpio archive at byte %d: %w", off, err)
	}
	return files, nil
}
