package uki

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Limits on what a PE file may claim. A UKI carries its kernel and
// initrd, so it may be large; everything else is small.
const (
	// MaxSize bounds a UKI or add-on file: a kernel, an initrd and the
	// stub.
	MaxSize = 1 << 30
	// MaxSections bounds the section table (the PE format allows 96 in
	// the Windows loader; a multi-profile UKI repeats a few sections per
	// profile).
	MaxSections = 256
	// MaxHeaders bounds where the section table may end: headers are a
	// few hundred bytes.
	MaxHeaders = 64 << 10
)

// PE machine, magic and subsystem values a UKI must have.
const (
	machineAMD64     = 0x8664
	magicPE32Plus    = 0x20b
	subsystemEFIApp  = 10
	dataDirSecurity  = 4
	optionalHdrFixed = 112 // PE32+ optional header up to NumberOfRvaAndSizes
)

// Section is one section of a PE file, cut to its VirtualSize: the bytes
// of the section's contents, without the file alignment padding.
type Section struct {
	Name string
	// Offset is where the contents start in the file; Size is the
	// section's VirtualSize (at most SizeOfRawData).
	Offset, Size int64
	// RawSize is SizeOfRawData, the contents with their padding.
	RawSize int64
}

// PE is what warmboot reads of a PE32+ file: its sections in table
// order and where its certificate table (Authenticode) lies.
type PE struct {
	Size     int64
	Sections []Section
	// CertOffset and CertSize locate the attribute certificate table
	// (a file offset, not an RVA); zero when the file is unsigned.
	CertOffset, CertSize int64
	// ChecksumOffset and CertDirOffset are where the optional header's
	// CheckSum and the certificate table's data directory entry lie:
	// what an Authenticode digest skips.
	ChecksumOffset, CertDirOffset int64
	// HeadersEnd is the end of the section table; SizeOfHeaders the
	// optional header's field (the headers with their padding).
	HeadersEnd, SizeOfHeaders int64
}

// Error is a malformed PE file: What says what is wrong, in words a user
// can act on ("section .linux overlaps .initrd").
type Error struct{ What string }

func (e *Error) Error() string { return "not a valid UKI: " + e.What }

// Is makes every *Error match ErrMalformed.
func (e *Error) Is(target error) bool { return target == ErrMalformed }

// ErrMalformed matches every parse error (errors.Is).
var ErrMalformed = errors.New("malformed PE file")

func bad(format string, args ...any) error { return &Error{What: fmt.Sprintf(format, args...)} }

// ParsePE reads and checks the headers of a PE file of size bytes: a
// PE32+ EFI application for x86-64 whose sections' raw data lie inside
// the file, after the headers, without overlapping each other or the
// certificate table. (A section whose VirtualSize exceeds its raw data,
// the stub's own .data with its .bss, is the loader's to zero-fill; Open
// refuses that only for the sections a UKI carries.) It reads at most
// MaxHeaders bytes.
func ParsePE(r io.ReaderAt, size int64) (*PE, error) {
	if size > MaxSize {
		return nil, bad("%d bytes, more than the %d MiB a UKI may have", size, MaxSize>>20)
	}
	hlen := min(size, MaxHeaders)
	h := make([]byte, hlen)
	if n, err := r.ReadAt(h, 0); int64(n) < hlen {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading PE headers: %w", err)
	}
	if len(h) < 64 || h[0] != 'M' || h[1] != 'Z' {
		return nil, bad("no MZ header (not an EFI program)")
	}
	peOff := int64(binary.LittleEndian.Uint32(h[0x3c:]))
	if peOff < 64 || peOff+24 > hlen {
		return nil, bad("PE header offset %#x is outside the headers", peOff)
	}
	if string(h[peOff:peOff+4]) != "PE\x00\x00" {
		return nil, bad("no PE signature at %#x", peOff)
	}
	coff := h[peOff+4:]
	machine := binary.LittleEndian.Uint16(coff[0:])
	nsec := int64(binary.LittleEndian.Uint16(coff[2:]))
	optSize := int64(binary.LittleEndian.Uint16(coff[16:]))
	if machine != machineAMD64 {
		return nil, bad("machine %#x is not x86-64 (%#x)", machine, machineAMD64)
	}
	if nsec == 0 || nsec > MaxSections {
		return nil, bad("%d sections (1 to %d allowed)", nsec, MaxSections)
	}
	optOff := peOff + 24
	if optSize < optionalHdrFixed || optOff+optSize > hlen {
		return nil, bad("optional header of %d bytes does not fit", optSize)
	}
	opt := h[optOff : optOff+optSize]
	if m := binary.LittleEndian.Uint16(opt[0:]); m != magicPE32Plus {
		return nil, bad("optional header magic %#x is not PE32+ (%#x)", m, magicPE32Plus)
	}
	if s := binary.LittleEndian.Uint16(opt[68:]); s != subsystemEFIApp {
		return nil, bad("subsystem %d is not an EFI application (%d)", s, subsystemEFIApp)
	}
	p := &PE{Size: size, ChecksumOffset: optOff + 64, SizeOfHeaders: int64(binary.LittleEndian.Uint32(opt[60:]))}
	ndirs := int64(binary.LittleEndian.Uint32(opt[108:]))
	if ndirs > 16 || optionalHdrFixed+8*ndirs > optSize {
		return nil, bad("%d data directories do not fit the optional header", ndirs)
	}
	if ndirs > dataDirSecurity {
		d := int64(optionalHdrFixed + 8*dataDirSecurity)
		p.CertDirOffset = optOff + d
		p.CertOffset = int64(binary.LittleEndian.Uint32(opt[d:]))
		p.CertSize = int64(binary.LittleEndian.Uint32(opt[d+4:]))
		if p.CertSize == 0 {
			p.CertOffset = 0
		}
	}
	secOff := optOff + optSize
	p.HeadersEnd = secOff + 40*nsec
	if p.HeadersEnd > hlen {
		return nil, bad("section table of %d sections does not fit in the file's first %d bytes", nsec, hlen)
	}
	for i := range nsec {
		s := h[secOff+40*i : secOff+40*(i+1)]
		name := strings.TrimRight(string(s[:8]), "\x00")
		if strings.HasPrefix(name, "/") || strings.ContainsFunc(name, func(r rune) bool { return r < 0x21 || r > 0x7e }) {
			return nil, bad("section %d has name %q: UKI sections have short printable names", i, name)
		}
		sec := Section{
			Name:    name,
			Size:    int64(binary.LittleEndian.Uint32(s[8:])),
			RawSize: int64(binary.LittleEndian.Uint32(s[16:])),
			Offset:  int64(binary.LittleEndian.Uint32(s[20:])),
		}
		switch {
		case sec.RawSize == 0:
			// No data in the file (.bss): nothing to read or check.
		case sec.Offset < p.HeadersEnd:
			return nil, bad("section %s starts at %#x, inside the headers", name, sec.Offset)
		case sec.Offset+sec.RawSize > size:
			return nil, bad("section %s (%#x+%d) runs past the end of the file (%d bytes)", name, sec.Offset, sec.RawSize, size)
		}
		p.Sections = append(p.Sections, sec)
	}
	for i, a := range p.Sections {
		for _, b := range p.Sections[i+1:] {
			if a.RawSize > 0 && b.RawSize > 0 && a.Offset < b.Offset+b.RawSize && b.Offset < a.Offset+a.RawSize {
				return nil, bad("section %s overlaps section %s", a.Name, b.Name)
			}
		}
	}
	if p.CertSize > 0 {
		switch {
		case p.CertOffset < p.HeadersEnd || p.CertOffset+p.CertSize > size:
			return nil, bad("certificate table %#x+%d is outside the file", p.CertOffset, p.CertSize)
		}
		for _, s := range p.Sections {
			if s.RawSize > 0 && s.Offset < p.CertOffset+p.CertSize && p.CertOffset < s.Offset+s.RawSize {
				return nil, bad("certificate table overlaps section %s", s.Name)
			}
		}
	}
	return p, nil
}

// Read returns the contents of s from r, refusing more than limit bytes.
func (s Section) Read(r io.ReaderAt, limit int64) ([]byte, error) {
	if s.Size > limit {
		return nil, bad("section %s is %d bytes, more than the %d allowed", s.Name, s.Size, limit)
	}
	b := make([]byte, s.Size)
	if _, err := r.ReadAt(b, s.Offset); err != nil && !(err == io.EOF && s.Size == 0) {
		return nil, fmt.Errorf("reading section %s: %w", s.Name, err)
	}
	return b, nil
}

// Reader returns a reader of s's contents in r.
func (s Section) Reader(r io.ReaderAt) *io.SectionReader {
	return io.NewSectionReader(r, s.Offset, s.Size)
}

// Signed says whether the PE image in r (of size bytes) carries an
// Authenticode certificate table: whether a kernel's EFI stub header was
// signed (sbsign, ukify --sign-kernel). Only the headers' certificate
// directory is read; the signature is the kernel's to check
// (kexec_file_load under lockdown or KEXEC_SIG). A file that is not a
// PE image is not signed.
func Signed(r io.ReaderAt, size int64) bool {
	h := make([]byte, min(size, 4096))
	if n, _ := r.ReadAt(h, 0); n < len(h) || len(h) < 64 || h[0] != 'M' || h[1] != 'Z' {
		return false
	}
	pe := int64(binary.LittleEndian.Uint32(h[0x3c:]))
	opt := pe + 24
	if opt+optionalHdrFixed+8*(dataDirSecurity+1) > int64(len(h)) || string(h[pe:pe+4]) != "PE\x00\x00" ||
		binary.LittleEndian.Uint16(h[opt:]) != magicPE32Plus || binary.LittleEndian.Uint32(h[opt+108:]) <= dataDirSecurity {
		return false
	}
	d := opt + optionalHdrFixed + 8*dataDirSecurity
	off, n := int64(binary.LittleEndian.Uint32(h[d:])), int64(binary.LittleEndian.Uint32(h[d+4:]))
	return n > 8 && off > 0 && off+n <= size
}
