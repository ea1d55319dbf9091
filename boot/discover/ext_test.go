package discover

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/internal/testtool"
)

// A fresh ext4 has a clean journal; debugfs can set needs_recovery the
// way a crash leaves it.
func TestParseExtSuperblock(t *testing.T) {
	testtool.Need(t, "mkfs.ext4")
	testtool.Need(t, "debugfs")
	img := filepath.Join(t.TempDir(), "fs.img")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := exec.CommandContext(context.Background(), name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", name, err, out)
		}
	}
	read := func() (ExtJournal, bool) {
		data, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		return ParseExtSuperblock(data[1024:2048])
	}
	run("mkfs.ext4", "-q", "-F", img, "8M")
	if j, ok := read(); !ok || j != (ExtJournal{Journal: true}) {
		t.Errorf("fresh ext4: %+v, %v; want a clean journal", j, ok)
	}
	run("debugfs", "-w", "-R", "feature needs_recovery", img)
	if j, ok := read(); !ok || j != (ExtJournal{Journal: true, NeedsRecovery: true}) {
		t.Errorf("after a crash: %+v, %v; want needs recovery", j, ok)
	}
	run("mkfs.ext2", "-q", "-F", img, "8M")
	if j, ok := read(); !ok || j.Journal {
		t.Errorf("ext2: %+v, %v; want no journal", j, ok)
	}
	if _, ok := ParseExtSuperblock(make([]byte, 1024)); ok {
		t.Error("zeros parsed as a superblock")
	}
}
