package console

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Output goes to every active console, each once; with none, to the
// fallback.
func TestOpen(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "sys/class/tty/console"), 0o755)
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	os.WriteFile(filepath.Join(root, "sys/class/tty/console/active"), []byte("tty0 ttyS0 ../etc\n"), 0o644)
	for _, n := range []string{"tty0", "ttyS0"} {
		os.WriteFile(filepath.Join(root, "dev", n), nil, 0o644)
	}
	var fallback bytes.Buffer
	c := Open(root, &fallback)
	fmt.Fprintln(c, "warmboot: starting")
	c.Close()
	for _, n := range []string{"tty0", "ttyS0"} {
		if b, _ := os.ReadFile(filepath.Join(root, "dev", n)); string(b) != "warmboot: starting\n" {
			t.Errorf("%s got %q", n, b)
		}
	}
	if fallback.Len() != 0 {
		t.Errorf("fallback got %q with consoles open", fallback.String())
	}
	c = Open(t.TempDir(), &fallback)
	fmt.Fprintln(c, "x")
	if fallback.String() != "x\n" {
		t.Errorf("fallback got %q, want the output with no console", fallback.String())
	}
}
