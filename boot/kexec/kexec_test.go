package kexec

import (
	"bytes"
	"crypto"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"io"
	stdlog "log"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/sys"
)

// fakeKernel returns a minimal bzImage header for a kernel of total size n
// whose header claims want bytes.
func fakeKernel(n, want int) []byte {
	b := make([]byte, n)
	b[offSetupSects] = 3
	binary.LittleEndian.PutUint32(b[offSysSize:], uint32((want-4*512)/16))
	binary.LittleEndian.PutUint16(b[offBootFlag:], 0xaa55)
	copy(b[offHeader:], "HdrS")
	binary.LittleEndian.PutUint16(b[offVersion:], 0x020f)
	return b
}

func TestCheckBzImage(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
		size int64
		want string
	}{
		{"complete", fakeKernel(8192, 8192), 8192, ""},
		{"signed (longer than header says)", fakeKernel(9000, 8192), 9000, ""},
		{"truncated", fakeKernel(8192, 8192)[:4096], 4096, "truncated: 4096 bytes, but its header says the kernel is 8192 bytes"},
		{"tiny", []byte("hello"), 5, "5 bytes is too short to be a kernel"},
		{"elf", append([]byte("\x7fELF"), make([]byte, 1000)...), 1004, "not an x86 bzImage"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBzImage(tt.data, tt.size)
			if tt.want == "" {
				if err != nil {
					t.Errorf("CheckBzImage = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("CheckBzImage = %v, want %q", err, tt.want)
			}
		})
	}
}

func FuzzCheckBzImage(f *testing.F) {
	f.Add(fakeKernel(1024, 1024), int64(1024))
	f.Add(fakeKernel(1024, 4096), int64(1024))
	f.Fuzz(func(t *testing.T, hdr []byte, size int64) {
		if len(hdr) > 4096 {
			return
		}
		_ = CheckBzImage(hdr, size)
	})
}

func TestStage(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kernel := fakeKernel(8192, 8192)
	write("vmlinuz", kernel)
	write("short", kernel[:5000])
	write("empty", nil)
	write("i1", []byte("abcde"))
	write("i2", []byte("xyz"))
	e := entry.Entry{Root: dir, Kernel: "/vmlinuz", Initrds: []string{"/i1", "/i2"}, Source: entry.Source{Device: "vda2", File: "/loader/entries/a.conf", Line: 1}}

	im, err := Stage(e, "console=ttyS0", WithHashes(crypto.SHA256, crypto.SHA1, crypto.SHA384))
	if err != nil {
		t.Fatalf("Stage = %v", err)
	}
	defer im.Close()
	got, _ := io.ReadAll(io.NewSectionReader(im.Initrd, 0, 1<<20))
	if want := []byte("abcde\x00\x00\x00xyz\x00"); !bytes.Equal(got, want) {
		t.Errorf("initrd = %q, want %q (concatenated, 4-byte padded)", got, want)
	}
	if _, err := im.Kernel.Write([]byte("x")); err == nil {
		t.Error("writing the staged kernel succeeded; want it sealed")
	}
	if im.KernelSHA256 != sha256.Sum256(kernel) || len(im.InitrdSHA256s) != 2 ||
		im.InitrdSHA256s[0] != sha256.Sum256([]byte("abcde")) || im.InitrdSHA256s[1] != sha256.Sum256([]byte("xyz")) {
		t.Errorf("digests = %x %x, want the SHA-256 of each file as read (before padding)", im.KernelSHA256, im.InitrdSHA256s)
	}
	// Every bank asked for, in the same pass.
	s1, s384 := sha1.Sum([]byte("xyz")), sha512.Sum384(kernel)
	if len(im.InitrdSums) != 2 || !bytes.Equal(im.InitrdSums[1][crypto.SHA1], s1[:]) || !bytes.Equal(im.KernelSums[crypto.SHA384], s384[:]) || len(im.KernelSums) != 3 {
		t.Errorf("sums = %x, %x; want SHA-1, SHA-256 and SHA-384 of each file", im.KernelSums, im.InitrdSums)
	}
	plain, err := Stage(e, "")
	if err != nil {
		t.Fatal(err)
	}
	plain.Close()
	if plain.KernelSums != nil || plain.KernelSHA256 != ([32]byte{}) {
		t.Errorf("staged without WithHashes: sums %x; want nothing hashed", plain.KernelSums)
	}
	if _, err := (Loader{Sys: &fakeSys{}}).Load(im); err == nil {
		t.Error("Load of an unsealed image succeeded")
	}
	if err := im.Seal([]byte("SEG!")); err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(io.NewSectionReader(im.Initrd, 0, 1<<20))
	if want := []byte("abcde\x00\x00\x00xyz\x00SEG!"); !bytes.Equal(got, want) {
		t.Errorf("initrd after Seal = %q, want %q", got, want)
	}
	if _, err := im.Initrd.Write([]byte("x")); err == nil {
		t.Error("writing the sealed initramfs succeeded")
	}

	for _, tt := range []struct {
		name string
		mod  func(*entry.Entry)
		want string
	}{
		{"missing kernel", func(e *entry.Entry) { e.Kernel = "/gone" }, "kernel vda2:/gone: file does not exist; restore the file or fix the entry in vda2:/loader/entries/a.conf:1"},
		{"truncated kernel", func(e *entry.Entry) { e.Kernel = "/short" }, "kernel vda2:/short: truncated: 5000 bytes"},
		{"empty kernel", func(e *entry.Entry) { e.Kernel = "/empty" }, "kernel vda2:/empty: file is empty"},
		{"missing initrd", func(e *entry.Entry) { e.Initrds = []string{"/i1", "/nope"} }, "initrd vda2:/nope: file does not exist"},
		{"directory", func(e *entry.Entry) { e.Kernel = "/" }, "not a regular file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := e
			e.Initrds = append([]string(nil), e.Initrds...)
			tt.mod(&e)
			im, err := Stage(e, "")
			var ferr *FileError
			if err == nil || !errors.As(err, &ferr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Stage = %v, %v; want a FileError containing %q", im, err, tt.want)
			}
			// Digests checks the files as Stage does, in the same words.
			_, _, err = Digests(e, nil)
			if err == nil || !errors.As(err, &ferr) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Digests = %v; want a FileError containing %q", err, tt.want)
			}
		})
	}
	// And takes the digests staging takes.
	k, is, err := Digests(e, nil)
	if err != nil || k != sha256.Sum256(kernel) || len(is) != 2 || is[0] != sha256.Sum256([]byte("abcde")) || is[1] != sha256.Sum256([]byte("xyz")) {
		t.Errorf("Digests = %x, %x, %v; want the SHA-256 of each file", k, is, err)
	}
}

type fakeSys struct {
	fileErr, loadErr error
	calls            []string
	onLoad           func()
}

func (f *fakeSys) FileLoad(k, i *os.File, c string) error {
	f.calls = append(f.calls, "file:"+c)
	return f.fileErr
}

func (f *fakeSys) Load(k, i *os.File, c string) error {
	f.calls = append(f.calls, "load:"+c)
	if f.onLoad != nil {
		f.onLoad()
	}
	return f.loadErr
}

func TestLoaderFallback(t *testing.T) {
	enoexec := &sys.CallError{Call: "kexec_file_load(kernel=3, initrd=4, flags=0x0)", Err: sys.ENOEXEC}
	for _, tt := range []struct {
		name           string
		fileErr, ldErr error
		wantMethod     Method
		wantCalls      int
		wantErr        string
		wantErrIs      error
		kernel         KernelState
	}{
		{"file load works", nil, nil, FileLoad, 1, "", nil, KernelState{}},
		{"format refused, fallback", enoexec, nil, Load, 2, "", nil, KernelState{}},
		{"no syscall, fallback", &sys.CallError{Call: "kexec_file_load", Err: sys.ENOSYS}, nil, Load, 2, "", nil, KernelState{}},
		{"fallback fails too", enoexec, errors.New("parsing bzImage: bad"), "", 2, "kexec_load fallback failed: parsing bzImage: bad", ErrFallbackFailed, KernelState{}},
		{"signature rejected: no fallback", &sys.CallError{Call: "kexec_file_load", Err: sys.EKEYREJECTED}, nil, "", 1, "requires a signed kernel", sys.EKEYREJECTED, KernelState{}},
		{"not permitted: no fallback", &sys.CallError{Call: "kexec_file_load", Err: sys.EPERM}, nil, "", 1, "not root", sys.EPERM, KernelState{}},
		{"kexec disabled", &sys.CallError{Call: "kexec_file_load", Err: sys.EPERM}, nil, "", 1, "kernel.kexec_load_disabled=1", sys.EPERM, KernelState{Lockdown: "none", LoadDisabled: true}},
		{"lockdown refuses unsigned", &sys.CallError{Call: "kexec_file_load", Err: sys.EPERM}, nil, "", 1, "locked down (integrity)", sys.EPERM, KernelState{Lockdown: "integrity"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeSys{fileErr: tt.fileErr, loadErr: tt.ldErr}
			m, err := Loader{Sys: f, Kernel: tt.kernel}.Load(&Image{Entry: entry.Entry{Kernel: "/vmlinuz"}, Cmdline: "c", sealed: true})
			if m != tt.wantMethod || len(f.calls) != tt.wantCalls {
				t.Errorf("Load = %q after %q, want %q after %d calls", m, f.calls, tt.wantMethod, tt.wantCalls)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("Load error = %v, want %q", err, tt.wantErr)
			}
			if tt.wantErrIs != nil && !errors.Is(err, tt.wantErrIs) {
				t.Errorf("Load error = %v, want errors.Is %v", err, tt.wantErrIs)
			}
		})
	}
}

func TestReadKernelState(t *testing.T) {
	root := t.TempDir()
	if got := ReadKernelState(root); got != (KernelState{}) {
		t.Errorf("ReadKernelState(empty) = %+v", got)
	}
	for p, c := range map[string]string{"sys/kernel/security/lockdown": "none [integrity] confidentiality\n", "proc/sys/kernel/kexec_load_disabled": "1\n"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), []byte(c), 0o644)
	}
	if got, want := ReadKernelState(root), (KernelState{Lockdown: "integrity", LoadDisabled: true}); got != want {
		t.Errorf("ReadKernelState = %+v, want %+v", got, want)
	}
}

// u-root's loader prints with the standard logger; during a fallback load
// that goes to the loader's log at debug level, not the console.
func TestFallbackQuietsStdLog(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := &fakeSys{fileErr: &sys.CallError{Call: "kexec_file_load", Err: sys.ENOEXEC}}
	var std bytes.Buffer
	stdlog.SetOutput(&std)
	defer stdlog.SetOutput(os.Stderr)
	f.onLoad = func() { stdlog.Printf("Elf file: lots") }
	if _, err := (Loader{Sys: f, Log: log}).Load(&Image{Entry: entry.Entry{Kernel: "/vmlinuz"}, sealed: true}); err != nil {
		t.Fatal(err)
	}
	if std.Len() != 0 || !strings.Contains(out.String(), `level=DEBUG msg="u-root: Elf file: lots"`) {
		t.Errorf("standard log got %q; loader log got %q", std.String(), out.String())
	}
	stdlog.Print("after")
	if !strings.Contains(std.String(), "after") {
		t.Error("the standard logger was not restored")
	}
}

// What is staged is bounded by the memory there is, saying so.
func TestStageMemory(t *testing.T) {
	dir := t.TempDir()
	kernel := fakeKernel(8192, 8192)
	os.WriteFile(filepath.Join(dir, "vmlinuz"), kernel, 0o644)
	os.WriteFile(filepath.Join(dir, "big"), make([]byte, 3<<20), 0o644)
	e := entry.Entry{Root: dir, Kernel: "/vmlinuz", Initrds: []string{"/big"}, Source: entry.Source{File: "/a.conf"}}
	_, err := Stage(e, "", WithMemory(func() int64 { return 2 << 20 }))
	if err == nil || !strings.Contains(err.Error(), "initrd /big: larger than the 1 MiB of memory free to stage it") {
		t.Errorf("Stage with 2 MiB free = %v", err)
	}
	im, err := Stage(e, "", WithMemory(func() int64 { return 8 << 20 }))
	if err != nil {
		t.Fatalf("Stage with 8 MiB free: %v", err)
	}
	im.Close()
	if got := memAvailable([]byte("MemTotal:       16384 kB\nMemFree:  100 kB\nMemAvailable:    2048 kB\n")); got != 2<<20 {
		t.Errorf("memAvailable = %d, want 2 MiB", got)
	}
}

// A file the caller has read already is staged from its bytes, not read
// again; the others are read from the disk.
func TestStageRead(t *testing.T) {
	dir := t.TempDir()
	kernel := fakeKernel(8192, 8192)
	os.WriteFile(filepath.Join(dir, "vmlinuz"), []byte("replaced on disk since"), 0o644)
	os.WriteFile(filepath.Join(dir, "i1"), []byte("abcd"), 0o644)
	e := entry.Entry{Root: dir, Kernel: "/vmlinuz", Initrds: []string{"/i1"}}
	im, err := Stage(e, "", WithHashes(crypto.SHA256), WithRead(map[string][]byte{"/vmlinuz": kernel}))
	if err != nil {
		t.Fatalf("Stage = %v", err)
	}
	defer im.Close()
	got, _ := io.ReadAll(io.NewSectionReader(im.Kernel, 0, 1<<20))
	if !bytes.Equal(got, kernel) || im.KernelSHA256 != sha256.Sum256(kernel) {
		t.Errorf("staged kernel: %d bytes, not the %d read", len(got), len(kernel))
	}
	if im.InitrdSHA256s[0] != sha256.Sum256([]byte("abcd")) {
		t.Error("the initrd was not read from the disk")
	}
}
