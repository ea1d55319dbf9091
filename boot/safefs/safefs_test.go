package safefs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestHostile lays out what a hostile disk can hold and checks that each
// is refused at once, and that ordinary files and links within still work.
func TestHostile(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	write := func(p, s string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("boot/grub/grub.cfg", "ok")
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("host"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"console.cfg":  "/dev/console",
		"abs.cfg":      filepath.Join(outside, "secret"),
		"up.cfg":       "../" + filepath.Base(outside) + "/secret",
		"good.cfg":     "boot/grub/grub.cfg",
		"fifolink.cfg": "fifo.conf",
		"null":         "/dev/null",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	f := Dir(dir)
	defer f.Close()
	for _, tt := range []struct {
		name    string
		want    string // content, or "" for a refusal
		notRegu bool   // refused as not a regular file
	}{
		{"boot/grub/grub.cfg", "ok", false},
		{"good.cfg", "ok", false},
		{"fifo.conf", "", true},
		{"fifolink.cfg", "", true},
		{"console.cfg", "", false},
		{"abs.cfg", "", false},
		{"up.cfg", "", false},
		{"null", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var data []byte
			var err error
			go func() {
				defer close(done)
				data, err = fs.ReadFile(f, tt.name)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatalf("ReadFile(%s) hangs", tt.name)
			}
			if tt.want != "" {
				if err != nil || string(data) != tt.want {
					t.Fatalf("ReadFile(%s) = %q, %v, want %q", tt.name, data, err, tt.want)
				}
				return
			}
			if err == nil {
				t.Fatalf("ReadFile(%s) = %q, want an error", tt.name, data)
			}
			if tt.notRegu && !errors.Is(err, ErrNotRegular) {
				t.Errorf("ReadFile(%s) error = %v, want ErrNotRegular", tt.name, err)
			}
		})
	}
	if _, err := OpenFile(dir, "/fifo.conf"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile(fifo) = %v, want ErrNotRegular", err)
	}
	if _, err := OpenFile(dir, "/boot"); !errors.Is(err, ErrNotRegular) {
		t.Errorf("OpenFile(directory) = %v, want ErrNotRegular", err)
	}
	file, err := OpenFile(dir, "/boot/../boot/grub/grub.cfg")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(file)
	file.Close()
	if string(b) != "ok" {
		t.Errorf("OpenFile = %q, want ok", b)
	}
	names, err := fs.Glob(f, "*.cfg")
	if err != nil || len(names) != 5 {
		t.Errorf("Glob = %v, %v; want the 5 links", names, err)
	}
}
