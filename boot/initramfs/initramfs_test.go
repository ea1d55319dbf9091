package initramfs

import (
	"bytes"
	"compress/gzip"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/google/go-cmp/cmp"
	"github.com/klauspost/compress/zstd"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/internal/testtool"
)

func archive(t testing.TB, files map[string]string) []byte {
	t.Helper()
	m := map[string][]byte{}
	for k, v := range files {
		m[k] = []byte(v)
	}
	b, err := handoff.Segment(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func gz(t testing.TB, b []byte) []byte {
	var out bytes.Buffer
	w := gzip.NewWriter(&out)
	w.Write(b)
	w.Close()
	return out.Bytes()
}

func zst(t testing.TB, b []byte) []byte {
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return w.EncodeAll(b, nil)
}

func pad(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

var all = func(string) bool { return true }

func TestRead(t *testing.T) {
	base := archive(t, map[string]string{"/etc/warmboot/trust/policy": "enforce\n", "/init": "binary"})
	var img []byte
	img = append(img, pad(zst(t, base))...)
	img = append(img, pad(gz(t, archive(t, map[string]string{"/etc/a": "from gzip"})))...)
	img = append(img, archive(t, map[string]string{"/etc/warmboot/trust/policy": "warn\n"})...)
	got, err := Read(img, all)
	if err != nil {
		t.Fatal(err)
	}
	want := Files{
		"etc/warmboot/trust/policy": []byte("warn\n"), // the later one wins
		"init":                      []byte("binary"),
		"etc/a":                     []byte("from gzip"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
	only, err := Read(img, func(n string) bool { return n == "init" })
	if err != nil || len(only) != 1 {
		t.Errorf("Read(keep init) = %v, %v", only, err)
	}
}

// The zstd CLI (what make image runs) writes frames the walk must size.
func TestReadZstdCLI(t *testing.T) {
	testtool.Need(t, "zstd")
	dir := t.TempDir()
	p := filepath.Join(dir, "a.cpio")
	big := bytes.Repeat([]byte("warmboot "), 100000)
	os.WriteFile(p, archive(t, map[string]string{"/big": string(big), "/x": "1"}), 0o644)
	if out, err := exec.Command("zstd", "-q", "-19", p).CombinedOutput(); err != nil {
		t.Fatalf("zstd: %v: %s", err, out)
	}
	z, _ := os.ReadFile(p + ".zst")
	img := append(pad(z), archive(t, map[string]string{"/x": "2"})...)
	got, err := Read(img, all)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got["big"], big) || string(got["x"]) != "2" {
		t.Errorf("Read: big %d bytes, x=%q; want %d bytes, x=2", len(got["big"]), got["x"], len(big))
	}
}

// Names are as the kernel resolves them from the root of rootfs: "./a"
// and "/a" are one file, and an entry naming the root is not a file.
func TestReadNames(t *testing.T) {
	var buf bytes.Buffer
	w := cpio.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"./etc/a", "1"}, {"/etc//b", "2"}, {"/", "root"}, {".", "dot"}, {"etc/x/../c", "3"},
	} {
		if err := w.WriteHeader(&cpio.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body))}); err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(f.body))
	}
	w.Close()
	got, err := Read(buf.Bytes(), all)
	if err != nil {
		t.Fatal(err)
	}
	want := Files{"etc/a": []byte("1"), "etc/b": []byte("2"), "etc/c": []byte("3")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Read (-want +got):\n%s", diff)
	}
}

func TestReadErrors(t *testing.T) {
	for name, img := range map[string][]byte{
		"garbage":         []byte("MZ this is a kernel"),
		"truncated zstd":  zst(t, archive(t, map[string]string{"/a": "b"}))[:10],
		"truncated gzip":  gz(t, archive(t, map[string]string{"/a": "b"}))[:12],
		"truncated cpio":  archive(t, map[string]string{"/a": "bbbbbbbb"})[:115],
		"zstd of garbage": zst(t, []byte("not a cpio")),
		"negative size":   negativeSize(t),
	} {
		if _, err := Read(img, all); err == nil {
			t.Errorf("%s: Read succeeded", name)
		}
	}
}

// negativeSize is an archive whose file size field reads "-1000000": found
// by FuzzRead, it made cavaliergopher/cpio slice with a negative bound.
func negativeSize(t *testing.T) []byte {
	b := archive(t, map[string]string{"/a": "bbbb"})
	// newc: the file size is the eighth field, bytes 54..62.
	copy(b[54:62], "-1000000")
	return b
}

func FuzzRead(f *testing.F) {
	f.Add(archive(f, map[string]string{"/a": "b"}))
	f.Add(pad(zst(f, archive(f, map[string]string{"/a": "b"}))))
	f.Add(pad(gz(f, archive(f, map[string]string{"/a": "b"}))))
	f.Fuzz(func(t *testing.T, img []byte) {
		if len(img) > 1<<16 {
			return
		}
		// ReadPlain walks the same archives, stopping where Read would
		// fail or decompress: it never finds a file Read does not.
		plain, perr := ReadPlain(img, all)
		files, err := Read(img, all)
		if perr == nil && err == nil {
			for name := range plain {
				if _, ok := files[name]; !ok {
					t.Errorf("ReadPlain found %q, Read did not", name)
				}
			}
		}
		if err != nil {
			return
		}
		for name := range files {
			if name == "" {
				t.Errorf("a file with no name")
			}
		}
	})
}
