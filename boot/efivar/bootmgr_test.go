package efivar

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var old = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)

// ovmfVars copies testdata/ovmf (BootOrder 000A,0007,0008,0000,0001,0002,
// 0003,0005,0009,0004,0006; Boot0000 to Boot000A; BootCurrent 000A;
// BootNext 0002) to a temporary directory, every file dated old.
func ovmfVars(t *testing.T) Vars {
	t.Helper()
	dir := t.TempDir()
	files, err := filepath.Glob("testdata/ovmf/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("testdata/ovmf: %v", err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, filepath.Base(f))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, old, old); err != nil {
			t.Fatal(err)
		}
	}
	return Vars{Dir: dir}
}

// changed lists the variables written or removed since ovmfVars, and
// the ones created.
func changed(t *testing.T, v Vars, before map[string][]byte) []string {
	t.Helper()
	var out []string
	ents, err := os.ReadDir(v.Dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		seen[e.Name()] = true
		if !fi.ModTime().Equal(old) {
			out = append(out, e.Name()[:len(e.Name())-37])
		}
	}
	for name := range before {
		if !seen[name] {
			out = append(out, "-"+name[:len(name)-37])
		}
	}
	slices.Sort(out)
	return out
}

func snapshot(t *testing.T, v Vars) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	ents, _ := os.ReadDir(v.Dir)
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(v.Dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = b
	}
	return m
}

func testOption(t *testing.T, desc, path string) LoadOption {
	t.Helper()
	file, err := FileNode(path)
	if err != nil {
		t.Fatal(err)
	}
	return LoadOption{
		Attributes:  LoadOptionActive,
		Description: desc,
		FilePath:    DevicePath{GPTPartition(1, 2048, 1048576, MustParseGUID("5f2d1c3b-8a9e-4f60-b1c2-d3e4f5a6b7c8")).Node(), file, EndNode()},
	}
}

func TestBootVariables(t *testing.T) {
	v := ovmfVars(t)
	if n, err := BootCurrent(v); err != nil || n != 0xa {
		t.Errorf("BootCurrent = %#x, %v, want 0xa", n, err)
	}
	if n, err := BootNext(v); err != nil || n != 2 {
		t.Errorf("BootNext = %#x, %v, want 2", n, err)
	}
	want := []uint16{0xa, 7, 8, 0, 1, 2, 3, 5, 9, 4, 6}
	if o, err := BootOrder(v); err != nil || !slices.Equal(o, want) {
		t.Errorf("BootOrder = %x, %v, want %x", o, err, want)
	}
	if err := SetBootNext(v, 0x1234); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(v.Dir, "BootNext-"+Global.String()))
	if want := "\x07\x00\x00\x00\x34\x12"; string(b) != want {
		t.Errorf("BootNext file = % x, want % x", b, want)
	}
	if err := ClearBootNext(v); err != nil {
		t.Fatal(err)
	}
	if _, err := BootNext(v); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("BootNext after ClearBootNext = %v, want fs.ErrNotExist", err)
	}
	if err := ClearBootNext(v); err != nil {
		t.Errorf("ClearBootNext when unset = %v, want nil", err)
	}
	if nums, err := BootOptions(v); err != nil || len(nums) != 11 || nums[10] != 0xa {
		t.Errorf("BootOptions = %x, %v, want 0 to a", nums, err)
	}
}

func TestRegister(t *testing.T) {
	v := ovmfVars(t)
	before := snapshot(t, v)
	opt := testOption(t, "warmboot", `\EFI\warmboot\warmboot.efi`)
	num, err := Register(v, opt)
	if err != nil {
		t.Fatal(err)
	}
	if num != 0xb {
		t.Errorf("Register = %#x, want 0xb, the first free number", num)
	}
	if diff := cmp.Diff([]string{"Boot000B", "BootOrder"}, changed(t, v, before)); diff != "" {
		t.Errorf("variables written (-want +got):\n%s", diff)
	}
	want := []uint16{0xb, 0xa, 7, 8, 0, 1, 2, 3, 5, 9, 4, 6}
	if o, err := BootOrder(v); err != nil || !slices.Equal(o, want) {
		t.Errorf("BootOrder = %x, %v, want %x", o, err, want)
	}
	attrs, data, err := v.Read("Boot000B", Global)
	if err != nil || attrs != AttrPersistent {
		t.Errorf("Boot000B attributes = %#x, %v, want 0x7", attrs, err)
	}
	if got, err := ParseLoadOption(data); err != nil || got.File() != `\EFI\warmboot\warmboot.efi` || got.Description != "warmboot" {
		t.Errorf("Boot000B = %+v, %v", got, err)
	}

	// Again: nothing to write.
	for _, f := range []string{"Boot000B", "BootOrder"} {
		os.Chtimes(filepath.Join(v.Dir, f+"-"+Global.String()), old, old)
	}
	if n, err := Register(v, opt); err != nil || n != 0xb {
		t.Errorf("Register again = %#x, %v, want 0xb", n, err)
	}
	if got := changed(t, v, before); len(got) != 0 {
		t.Errorf("Register again wrote %v, want nothing", got)
	}

	// Different optional data: the same number, rewritten; BootOrder kept.
	opt.OptionalData = []byte("x")
	if n, err := Register(v, opt); err != nil || n != 0xb {
		t.Errorf("Register with new data = %#x, %v, want 0xb", n, err)
	}
	if diff := cmp.Diff([]string{"Boot000B"}, changed(t, v, before)); diff != "" {
		t.Errorf("variables written (-want +got):\n%s", diff)
	}

	// Another file is another entry.
	if n, err := Register(v, testOption(t, "warmboot", `\EFI\warmboot\other.efi`)); err != nil || n != 0xc {
		t.Errorf("Register(other file) = %#x, %v, want 0xc", n, err)
	}
}

// An entry already in BootOrder moves to the front, once; a number in
// BootOrder without a Boot#### is not taken.
func TestRegisterOrder(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if err := v.Write("BootOrder", Global, AttrPersistent, uint16sBytes([]uint16{1, 0, 2, 0, 3})); err != nil {
		t.Fatal(err)
	}
	opt := testOption(t, "warmboot", `\EFI\warmboot\warmboot.efi`)
	data, _ := opt.Marshal()
	if err := v.Write("Boot0002", Global, AttrPersistent, data); err != nil {
		t.Fatal(err)
	}
	if n, err := Register(v, opt); err != nil || n != 2 {
		t.Errorf("Register = %#x, %v, want 2", n, err)
	}
	want := []uint16{2, 1, 0, 0, 3}
	if o, _ := BootOrder(v); !slices.Equal(o, want) {
		t.Errorf("BootOrder = %x, want %x", o, want)
	}
	if err := v.Delete("Boot0002", Global); err != nil {
		t.Fatal(err)
	}
	if n, err := Register(v, opt); err != nil || n != 4 {
		t.Errorf("Register with 0-3 in BootOrder = %#x, %v, want 4", n, err)
	}
}

func TestRegisterEmpty(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if n, err := Register(v, testOption(t, "warmboot", `\EFI\warmboot\warmboot.efi`)); err != nil || n != 0 {
		t.Errorf("Register = %#x, %v, want 0", n, err)
	}
	if o, _ := BootOrder(v); !slices.Equal(o, []uint16{0}) {
		t.Errorf("BootOrder = %x, want [0]", o)
	}
}

func TestRegisterBadBootOrder(t *testing.T) {
	v := Vars{Dir: t.TempDir()}
	if err := v.Write("BootOrder", Global, AttrPersistent, []byte{1, 0, 2}); err != nil {
		t.Fatal(err)
	}
	if _, err := Register(v, testOption(t, "warmboot", `\x.efi`)); !errors.Is(err, ErrMalformed) {
		t.Errorf("Register with a 3-byte BootOrder = %v, want ErrMalformed", err)
	}
	if nums, _ := BootOptions(v); len(nums) != 0 {
		t.Errorf("Register wrote %x despite the error", nums)
	}
}

func TestUnregister(t *testing.T) {
	v := ovmfVars(t)
	before := snapshot(t, v)
	if err := Unregister(v, 8); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"-Boot0008", "BootOrder"}, changed(t, v, before)); diff != "" {
		t.Errorf("variables changed (-want +got):\n%s", diff)
	}
	want := []uint16{0xa, 7, 0, 1, 2, 3, 5, 9, 4, 6}
	if o, _ := BootOrder(v); !slices.Equal(o, want) {
		t.Errorf("BootOrder = %x, want %x", o, want)
	}
	// Unregistering what is gone changes nothing.
	os.Chtimes(filepath.Join(v.Dir, "BootOrder-"+Global.String()), old, old)
	delete(before, "Boot0008-"+Global.String())
	if err := Unregister(v, 8); err != nil {
		t.Errorf("Unregister again = %v, want nil", err)
	}
	if got := changed(t, v, before); len(got) != 0 {
		t.Errorf("Unregister again changed %v", got)
	}
}

// Register then Unregister leaves the variables as they were, byte for
// byte.
func TestRegisterUnregister(t *testing.T) {
	v := ovmfVars(t)
	before := snapshot(t, v)
	num, err := Register(v, testOption(t, "warmboot", `\EFI\warmboot\warmboot.efi`))
	if err != nil {
		t.Fatal(err)
	}
	if err := Unregister(v, num); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, snapshot(t, v)); diff != "" {
		t.Errorf("variables (-before +after):\n%s", diff)
	}
}

// PlanRegister writes nothing and says what Register will.
func TestPlanRegister(t *testing.T) {
	v := ovmfVars(t)
	before := snapshot(t, v)
	opt := testOption(t, "warmboot", `\EFI\warmboot\warmboot.efi`)
	r, err := PlanRegister(v, opt)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := opt.Marshal()
	want := Registration{Num: 0xb, Option: data, Order: []uint16{0xb, 0xa, 7, 8, 0, 1, 2, 3, 5, 9, 4, 6}}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("PlanRegister (-want +got):\n%s", diff)
	}
	if got := changed(t, v, before); len(got) != 0 {
		t.Errorf("PlanRegister wrote %v", got)
	}
	if _, found, err := FindBootOption(v, opt); found || err != nil {
		t.Errorf("FindBootOption before Register = %v, %v, want false", found, err)
	}
	if err := r.Apply(v); err != nil {
		t.Fatal(err)
	}
	if n, found, err := FindBootOption(v, opt); n != 0xb || !found || err != nil {
		t.Errorf("FindBootOption = %#x, %v, %v, want 0xb, true", n, found, err)
	}
	r, err = PlanRegister(v, opt)
	if diff := cmp.Diff(Registration{Num: 0xb, Existing: true}, r); err != nil || diff != "" {
		t.Errorf("PlanRegister after Apply = %v, (-want +got):\n%s", err, diff)
	}
}
