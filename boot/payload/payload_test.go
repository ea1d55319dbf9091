package payload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/u-root/u-root/pkg/cpio"
	"github.com/warmboot/warmboot/internal/testtool"
)

// archive is a newc archive of the named files.
func archive(t testing.TB, files map[string]string) []byte {
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	var recs []cpio.Record
	for name, data := range files {
		recs = append(recs, cpio.StaticFile(name, data, 0o644))
	}
	if err := cpio.WriteRecordsAndDirs(w, recs); err != nil {
		t.Fatal(err)
	}
	if err := cpio.WriteTrailer(w); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// A payload as make payload lays it out: kernel code, the console archive,
// the image's archives with NUL padding, and the kernel's data after them.
func TestFiles(t *testing.T) {
	kernel := append([]byte("\x7fELF kernel code..."), ConsoleArchive()...)
	kernel = append(kernel, archive(t, map[string]string{"init": "#!init", "etc/warmboot/trust/policy": "first"})...)
	kernel = append(kernel, 0, 0, 0, 0)
	kernel = append(kernel, archive(t, map[string]string{"etc/warmboot/trust/policy": "enforce\n"})...)
	kernel = append(kernel, []byte("\x10\x00\x00\x00 kernel data after the initramfs 070701")...)
	files, err := Files(testtool.ZstdBzImage(kernel), func(n string) bool { return n != "init" })
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 1 || string(files["etc/warmboot/trust/policy"]) != "enforce\n" {
		t.Errorf("files = %q, want the last policy only", files)
	}
}

func TestNotPayload(t *testing.T) {
	good := testtool.ZstdBzImage([]byte("a kernel without a warmboot image"))
	for name, bz := range map[string][]byte{
		"empty":          nil,
		"no header":      make([]byte, 4096),
		"no image":       good,
		"truncated":      good[:len(good)-30],
		"wrong size":     sized(good, 1),
		"gzip":           append(append([]byte(nil), good[:2048]...), 0x1f, 0x8b, 8, 0),
		"huge size":      sized(good, 0xffffffff),
		"old protocol":   func() []byte { b := bytes.Clone(good); b[0x206] = 4; b[0x207] = 2; return b }(),
		"offset past it": func() []byte { b := bytes.Clone(good); binary.LittleEndian.PutUint32(b[0x248:], 1<<31); return b }(),
	} {
		if name == "gzip" {
			binary.LittleEndian.PutUint32(bz[0x24c:], 4)
		}
		_, err := Files(bz, func(string) bool { return true })
		if !errors.Is(err, ErrNotPayload) {
			t.Errorf("%s: err = %v, want ErrNotPayload", name, err)
		}
	}
}

// sized is bz with the decompressed size after its zstd frame replaced.
func sized(bz []byte, n uint32) []byte {
	b := bytes.Clone(bz)
	end := 2048 + int(binary.LittleEndian.Uint32(b[0x24c:]))
	binary.LittleEndian.PutUint32(b[end-4:], n)
	return b
}

func FuzzFiles(f *testing.F) {
	f.Add(testtool.ZstdBzImage(append(ConsoleArchive(), archive(f, map[string]string{"a": "b"})...)))
	f.Add(testtool.ZstdBzImage([]byte("kernel")))
	f.Add(make([]byte, 0x300))
	maxKernel = 16 << 20 // within testtool.Bounded's 64 MiB
	f.Fuzz(func(t *testing.T, bz []byte) {
		testtool.Bounded(t, func() { Files(bz, func(string) bool { return true }) })
	})
}
