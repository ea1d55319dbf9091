package sys

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

func nonblocking(t *testing.T, f *os.File) bool {
	t.Helper()
	sc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var fl int
	var ferr error
	if err := sc.Control(func(fd uintptr) { fl, ferr = unix.FcntlInt(fd, unix.F_GETFL, 0) }); err != nil || ferr != nil {
		t.Fatal(err, ferr)
	}
	return fl&unix.O_NONBLOCK != 0
}

// A device Go can poll (a FIFO here, a TPM on a machine) is opened
// non-blocking by os.OpenFile, which is what made a slow TPM's response
// read as EOF; OpenDevice leaves it blocking.
func TestOpenDeviceBlocking(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !nonblocking(t, f) {
		t.Fatalf("os.OpenFile left the FIFO blocking: the test shows nothing here")
	}
	g, err := OpenDevice(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if nonblocking(t, g) {
		t.Errorf("OpenDevice(%s) is non-blocking", fifo)
	}
	// Round trip through the blocking file.
	if _, err := g.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 1)
	if n, err := g.Read(b); n != 1 || err != nil || b[0] != 'x' {
		t.Errorf("read %d %q %v, want 1 \"x\" nil", n, b[:n], err)
	}

	_, err = OpenDevice(filepath.Join(t.TempDir(), "tpm0"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing device: %v, want fs.ErrNotExist (measure.Open's no TPM)", err)
	}
}
