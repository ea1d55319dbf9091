package efivar

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"testing"
)

// sfdiskGPT is the first 34 blocks of an 8 MiB image that sfdisk 2.38
// partitioned (see the script in TestPartitionOf).
func sfdiskGPT(t testing.TB) []byte {
	t.Helper()
	f, err := os.Open("testdata/sfdisk-gpt.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPartitionOf(t *testing.T) {
	// label: gpt
	// label-id: 0F3C6E5A-2B1D-4C8E-9A7F-112233445566
	// start=2048, size=4096, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=5F2D1C3B-8A9E-4F60-B1C2-D3E4F5A6B7C8, name="EFI System"
	// start=6144, size=8192, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=11111111-2222-4333-8444-555555555555
	disk := bytes.NewReader(sfdiskGPT(t))
	for _, c := range []struct {
		part        int
		start, size uint64
		guid        string
	}{
		{1, 2048, 4096, "5f2d1c3b-8a9e-4f60-b1c2-d3e4f5a6b7c8"},
		{2, 6144, 8192, "11111111-2222-4333-8444-555555555555"},
	} {
		start, size, guid, err := PartitionOf(disk, 512, c.part)
		if err != nil || start != c.start || size != c.size || guid.String() != c.guid {
			t.Errorf("PartitionOf(%d) = %d, %d, %v, %v, want %d, %d, %s", c.part, start, size, guid, err, c.start, c.size, c.guid)
		}
	}
}

func TestPartitionOfErrors(t *testing.T) {
	good := sfdiskGPT(t)
	le := binary.LittleEndian
	fixHeaderCRC := func(b []byte) {
		clear(b[512+16 : 512+20])
		le.PutUint32(b[512+16:], crc32.ChecksumIEEE(b[512:512+le.Uint32(b[512+12:])]))
	}
	for _, c := range []struct {
		name   string
		edit   func(b []byte)
		part   int
		sector int
		want   string
	}{
		{"no GPT", func(b []byte) { copy(b[512:], "NOT PART") }, 1, 512, `no "EFI PART" signature`},
		{"4K sectors", func([]byte) {}, 1, 4096, `no "EFI PART" signature`},
		{"header CRC", func(b []byte) { b[512+40]++ }, 1, 512, "header CRC32"},
		{"entry CRC", func(b []byte) { b[1024+40]++ }, 1, 512, "entry array CRC32"},
		{"unused", func([]byte) {}, 3, 512, "partition 3 is unused"},
		{"past the table", func([]byte) {}, 129, 512, "no partition 129"},
		{"zero", func([]byte) {}, 0, 512, "no partition 0"},
		{"sector size", func([]byte) {}, 1, 1000, "sector size 1000"},
		{"entry size", func(b []byte) { le.PutUint32(b[512+84:], 100); fixHeaderCRC(b) }, 1, 512, "entries of 100 bytes"},
		{"huge table", func(b []byte) { le.PutUint32(b[512+80:], 1<<30); fixHeaderCRC(b) }, 1, 512, "entries of 128 bytes"},
		{"header size", func(b []byte) { le.PutUint32(b[512+12:], 600) }, 1, 512, "header size 600"},
		{"truncated", func([]byte) {}, 1, 512, "reading"},
	} {
		b := bytes.Clone(good)
		c.edit(b)
		if c.name == "truncated" {
			b = b[:1500]
		}
		_, _, _, err := PartitionOf(bytes.NewReader(b), c.sector, c.part)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: PartitionOf = %v, want an error containing %q", c.name, err, c.want)
		}
		if strings.Contains(c.name, "CRC") && !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: %v is not ErrMalformed", c.name, err)
		}
	}
}

func FuzzPartitionOf(f *testing.F) {
	f.Add(sfdiskGPT(f), uint8(1), false)
	f.Add(sfdiskGPT(f)[:1024], uint8(2), true)
	f.Fuzz(func(t *testing.T, b []byte, part uint8, big bool) {
		if len(b) > maxFuzz {
			return
		}
		sector := 512
		if big {
			sector = 4096
		}
		start, size, _, err := PartitionOf(bytes.NewReader(b), sector, int(part))
		if err == nil && size == 0 {
			t.Fatalf("PartitionOf = %d, %d, nil: a partition of no blocks", start, size)
		}
	})
}
