package discover

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/internal/testtool"
)

// TestParseFSIDReal reads filesystems made by their own mkfs, with the UUID
// and label GRUB's search would match.
func TestParseFSIDReal(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		typ, tool string
		args      []string
		want      FSID
		env       []string
	}{
		{"ext4", "mkfs.ext4", []string{"-q", "-F", "-L", "boot", "-U", "3d2b1a09-8f7e-4d6c-b5a4-938271605f4e"}, FSID{"ext", "3d2b1a09-8f7e-4d6c-b5a4-938271605f4e", "boot"}, nil},
		{"xfs", "mkfs.xfs", []string{"-q", "-f", "-L", "xboot", "-m", "uuid=7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11"}, FSID{"xfs", "7e2f0c2a-8a4b-4d2c-9d35-6c1b0f1e2a11", "xboot"}, []string{"TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1"}},
		{"btrfs", "mkfs.btrfs", []string{"-q", "-f", "-L", "broot", "-U", "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718"}, FSID{"btrfs", "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f60718", "broot"}, nil},
		{"vfat", "mkfs.vfat", []string{"-n", "ESP", "-i", "B555118C"}, FSID{"vfat", "B555-118C", "ESP"}, nil},
		{"vfat16", "mkfs.vfat", []string{"-F", "16", "-i", "1A2B3C4D"}, FSID{"vfat", "1A2B-3C4D", ""}, nil},
	} {
		t.Run(tt.typ, func(t *testing.T) {
			tool := testtool.Need(t, tt.tool)
			img := filepath.Join(dir, tt.typ+".img")
			if err := os.WriteFile(img, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 128<<20); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tool, append(tt.args, img)...)
			cmd.Env = append(os.Environ(), tt.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tool, err, out)
			}
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			b := make([]byte, ProbeSize)
			n, _ := io.ReadFull(f, b)
			got, ok := ParseFSID(b[:n])
			if !ok || got != tt.want {
				t.Errorf("ParseFSID = %+v, %v; want %+v", got, ok, tt.want)
			}
		})
	}
	// ISO 9660, as installer media are made: GRUB's and blkid's UUID is
	// the volume's creation date.
	t.Run("iso9660", func(t *testing.T) {
		xorriso := testtool.Need(t, "xorriso")
		src := filepath.Join(dir, "isosrc")
		os.MkdirAll(filepath.Join(src, "isolinux"), 0o755)
		os.WriteFile(filepath.Join(src, "isolinux/isolinux.cfg"), []byte("default x\n"), 0o644)
		img := filepath.Join(dir, "t.iso")
		if out, err := exec.Command(xorriso, "-as", "mkisofs", "-quiet", "-V", "Debian 12.6.0 amd64 n",
			"--modification-date=2024062909382700", "-o", img, src).CombinedOutput(); err != nil {
			t.Fatalf("xorriso: %v\n%s", err, out)
		}
		b, _ := os.ReadFile(img)
		got, ok := ParseFSID(b[:min(len(b), ProbeSize)])
		want := FSID{"iso9660", "2024-06-29-09-38-27-00", "Debian 12.6.0 amd64 n"}
		if !ok || got != want {
			t.Errorf("ParseFSID = %+v, %v; want %+v", got, ok, want)
		}
		if out, err := exec.Command("blkid", "-p", "-s", "UUID", "-o", "value", img).Output(); err == nil && strings.TrimSpace(string(out)) != got.UUID {
			t.Errorf("blkid says UUID %s, ParseFSID %s", out, got.UUID)
		}
	})
	if _, ok := ParseFSID(make([]byte, ProbeSize)); ok {
		t.Error("ParseFSID(zeros) found a filesystem")
	}
}

func FuzzParseFSID(f *testing.F) {
	f.Add(make([]byte, 2048))
	b := make([]byte, 0x10200)
	copy(b[0x10040:], "_BHRfS_M")
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > ProbeSize {
			return
		}
		testtool.Bounded(t, func() { ParseFSID(b) })
	})
}
