package vmtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Two builds of the image from the same inputs are byte-identical: this
// builds a second one and compares it with the one make built.
func TestImageReproducible(t *testing.T) {
	parallel(t)
	out := filepath.Join(t.TempDir(), "warmboot.cpio")
	cmd := exec.Command("go", "run", "./images/mkimage", "-kernel-dir", os.Getenv("WARMBOOT_KERNEL_DIR"), "-o", out)
	cmd.Dir = ".."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("second image build: %v\n%s", err, b)
	}
	for _, pair := range [][2]string{{strings.TrimSuffix(image, ".zst"), out}, {image, out + ".zst"}} {
		a, err := os.ReadFile(pair[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(pair[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s (%d bytes) and a rebuild %s (%d bytes) differ: the image build is not reproducible", pair[0], len(a), pair[1], len(b))
		}
	}
}
