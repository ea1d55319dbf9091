package efivar

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

var testGUID = MustParseGUID("01234567-89ab-cdef-0123-456789abcdef")

func TestWriteRead(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if err := v.Write("Test", testGUID, AttrPersistent, []byte("longer value")); err != nil {
		t.Fatal(err)
	}
	if err := v.Write("Test", testGUID, AttrVolatile, []byte("short")); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(v.Dir, "Test-01234567-89ab-cdef-0123-456789abcdef")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte("\x06\x00\x00\x00short"); !bytes.Equal(raw, want) {
		t.Errorf("%s = %q, want %q (attributes LE, then data; the longer old value cut)", file, raw, want)
	}
	attrs, data, err := v.Read("Test", testGUID)
	if err != nil || attrs != AttrVolatile || string(data) != "short" {
		t.Errorf("Read = %#x, %q, %v, want 0x6, \"short\"", attrs, data, err)
	}
	if err := v.Delete("Test", testGUID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := v.Read("Test", testGUID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read after Delete = %v, want fs.ErrNotExist", err)
	}
	if err := v.Delete("Test", testGUID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Delete twice = %v, want fs.ErrNotExist", err)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	v := Vars{Dir: dir}
	put := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name+"-"+testGUID.String()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	put("Empty", nil)
	put("Short", []byte{7, 0})
	put("Huge", make([]byte, 4+MaxSize+1))
	put("Max", make([]byte, 4+MaxSize))
	for _, c := range []struct {
		name string
		want error
		msg  string
	}{
		{"Missing", fs.ErrNotExist, "reading EFI variable " + dir + "/Missing-01234567-89ab-cdef-0123-456789abcdef: no such file"},
		{"Empty", fs.ErrNotExist, "Empty-"},
		{"Short", ErrMalformed, "2 bytes, shorter than the 4-byte attributes"},
		{"Huge", ErrTooLarge, "more than 65536 bytes"},
	} {
		_, _, err := v.Read(c.name, testGUID)
		if !errors.Is(err, c.want) || !strings.Contains(fmtErr(err), c.msg) {
			t.Errorf("Read(%s) = %v, want %v containing %q", c.name, err, c.want, c.msg)
		}
	}
	if _, data, err := v.Read("Max", testGUID); err != nil || len(data) != MaxSize {
		t.Errorf("Read(Max) = %d bytes, %v, want %d", len(data), err, MaxSize)
	}
	if err := v.Write("Big", testGUID, AttrPersistent, make([]byte, MaxSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Write(%d bytes) = %v, want ErrTooLarge", MaxSize+1, err)
	}
}

func fmtErr(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// A missing efivarfs says how to mount it; a read-only one how to
// remount it.
func TestErrorFix(t *testing.T) {
	v := Vars{Dir: filepath.Join(t.TempDir(), "efivars")}
	_, _, err := v.Read("BootOrder", Global)
	want := "mount -t efivarfs efivarfs " + v.Dir
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(fmtErr(err), want) {
		t.Errorf("Read on a missing directory = %v, want fs.ErrNotExist containing %q", err, want)
	}
	if err := v.Available(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Available() = %v, want one containing %q", err, want)
	}
	e := &VarError{Op: "writing", Name: "BootOrder", GUID: Global, Dir: DefaultDir, Err: sys.EROFS}
	if want := "is /sys/firmware/efi/efivars read-only? mount -o remount,rw /sys/firmware/efi/efivars"; !strings.Contains(e.Error(), want) {
		t.Errorf("EROFS error = %q, want it to contain %q", e.Error(), want)
	}
}

func TestAvailable(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if err := v.Available(); err == nil {
		t.Errorf("Available() on an empty directory = nil, want an error")
	}
	if err := v.WriteString("X", testGUID, AttrPersistent, "x"); err != nil {
		t.Fatal(err)
	}
	if err := v.Available(); err != nil {
		t.Errorf("Available() = %v, want nil", err)
	}
}

// An immutable variable, as efivarfs makes most of them, is written (and
// stays immutable) and removed. It needs a file system with inode flags
// and CAP_LINUX_IMMUTABLE to set the flag up.
func TestImmutable(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if err := v.Write("Imm", testGUID, AttrPersistent, []byte("a")); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(v.Dir, "Imm-"+testGUID.String())
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := sys.InodeFlags(f)
	if err == nil {
		err = sys.SetInodeFlags(f, flags|sys.FS_IMMUTABLE_FL)
	}
	if err != nil {
		t.Skipf("cannot make %s immutable here: %v", p, err)
	}
	t.Cleanup(func() { sys.SetInodeFlags(f, flags) })
	if err := os.WriteFile(p, []byte("x"), 0o644); err == nil {
		t.Fatalf("writing %s succeeded: the immutable flag is not working", p)
	}
	if err := v.Write("Imm", testGUID, AttrPersistent, []byte("b")); err != nil {
		t.Fatalf("Write on an immutable variable = %v", err)
	}
	if got, _ := sys.InodeFlags(f); got&sys.FS_IMMUTABLE_FL == 0 {
		t.Errorf("after Write, flags = %#x, want the immutable flag set again", got)
	}
	if _, data, err := v.Read("Imm", testGUID); err != nil || string(data) != "b" {
		t.Errorf("Read = %q, %v, want \"b\"", data, err)
	}
	if err := v.Delete("Imm", testGUID); err != nil {
		t.Fatalf("Delete on an immutable variable = %v", err)
	}
}

// Mount uses a directory that holds variables as it is, and says a
// machine without sys/firmware/efi has no UEFI. (Mounting itself needs
// root and changes the machine, so no unit test does it.)
func TestMount(t *testing.T) {
	root := t.TempDir()
	if _, err := Mount(root); !errors.Is(err, ErrNoUEFI) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Mount(no sys/firmware/efi) = %v, want ErrNoUEFI", err)
	}
	dir := filepath.Join(root, "sys/firmware/efi/efivars")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (Vars{Dir: dir}).WriteString(LoaderEntryDefault, Loader, AttrPersistent, "a.conf"); err != nil {
		t.Fatal(err)
	}
	v, err := Mount(root)
	if err != nil || v.Dir != dir {
		t.Fatalf("Mount(a copy of the variables) = %+v, %v; want %s, nil", v, err, dir)
	}
}
