package disk

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/internal/testtool"
)

// The partition table and the filesystems' bytes are where Offset says:
// tests read a partition back from the image by it.
func TestBuildOffsets(t *testing.T) {
	for _, tool := range []string{"sfdisk", "mkfs.ext4", "mkfs.vfat", "mcopy"} {
		testtool.Need(t, tool)
	}
	d := Disk{Parts: []FS{
		{Type: "vfat", Label: "esp", SizeMiB: 16, ESP: true, Files: map[string]File{"/a": {Data: []byte("x")}}},
		{Type: "ext4", Label: "root", SizeMiB: 8, Files: map[string]File{"/b": {Data: []byte("y")}}},
	}}
	if d.Offset(1) != 1<<20 || d.Offset(2) != 17<<20 {
		t.Errorf("Offset(1) = %d, Offset(2) = %d; want 1 MiB (the usual alignment) and 17 MiB", d.Offset(1), d.Offset(2))
	}
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := Build(context.Background(), img, d); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("sfdisk", "-J", img).Output()
	if err != nil {
		t.Fatalf("sfdisk -J: %v", err)
	}
	var pt struct {
		PartitionTable struct {
			Partitions []struct{ Start, Size int64 }
		}
	}
	if err := json.Unmarshal(out, &pt); err != nil {
		t.Fatal(err)
	}
	if got := len(pt.PartitionTable.Partitions); got != 2 {
		t.Fatalf("%d partitions, want 2", got)
	}
	for i, p := range pt.PartitionTable.Partitions {
		if p.Start*512 != d.Offset(i+1) || p.Size*512 != int64(d.Parts[i].SizeMiB)<<20 {
			t.Errorf("partition %d: start %d size %d (bytes), Offset %d size %d", i+1, p.Start*512, p.Size*512, d.Offset(i+1), int64(d.Parts[i].SizeMiB)<<20)
		}
	}
	data, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if sb := data[d.Offset(2)+1024:]; binary.LittleEndian.Uint16(sb[0x38:]) != 0xEF53 {
		t.Errorf("no ext4 superblock at Offset(2)")
	}
	if boot := data[d.Offset(1):]; string(boot[0x52:0x57]) != "FAT32" && string(boot[0x36:0x3B]) != "FAT16" {
		t.Errorf("no FAT boot sector at Offset(1): %q", boot[0x36:0x3B])
	}
}
