package modload

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

var errExist = errors.New("exists")

func TestLoad(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"lib/modules/6.1/a.ko", "lib/modules/6.1/b.ko", "lib/modules/6.1/c.ko", "lib/modules/6.1/bad.ko", "lib/modules/6.1/cpu.ko", "lib/modules/5.0/old.ko"} {
		os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(root, p), nil, 0o644)
	}
	list := "lib/modules/6.1/a.ko\n# comment\nlib/modules/6.1/b.ko\nlib/modules/6.1/gone.ko\nlib/modules/6.1/bad.ko\nlib/modules/6.1/cpu.ko\nlib/modules/5.0/old.ko\nlib/modules/6.1/c.ko\n"
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, ListFile), []byte(list), 0o644)

	var loaded []string
	load := func(f *os.File, _ string) error {
		name := filepath.Base(f.Name())
		loaded = append(loaded, name)
		switch name {
		case "b.ko":
			return errExist
		case "bad.ko":
			return errors.New("invalid module format")
		case "cpu.ko":
			return &sys.CallError{Call: "finit_module(cpu.ko)", Err: sys.ENODEV}
		}
		return nil
	}
	r, err := Load(root, ListFile, "6.1", load, func(err error) bool { return errors.Is(err, errExist) })
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a.ko", "b.ko", "bad.ko", "cpu.ko", "c.ko"}, loaded); diff != "" {
		t.Errorf("load order (-want +got):\n%s", diff)
	}
	// cpu.ko declined (ENODEV: not for this machine): absent, not an error.
	if r.Loaded != 2 || r.Present != 1 || len(r.Errors) != 3 || !slices.Equal(r.Absent, []string{"cpu"}) {
		t.Errorf("Result = %+v, want 2 loaded, 1 present, absent [cpu], 3 errors", r)
	}
	all := errors.Join(r.Errors...).Error()
	for _, want := range []string{"gone.ko: open", "bad.ko: invalid module format", "old.ko was built for another kernel than the running 6.1"} {
		if !strings.Contains(all, want) {
			t.Errorf("errors %q lack %q", all, want)
		}
	}
}

func TestNoList(t *testing.T) {
	r, err := Load(t.TempDir(), ListFile, "6.1", nil, nil)
	if err != nil || r.Loaded != 0 {
		t.Errorf("Load(no list) = %+v, %v; want nothing, nil", r, err)
	}
}

// Module parameters from the image's options file reach finit_module.
func TestOptions(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc/warmboot"), 0o755)
	os.MkdirAll(filepath.Join(root, "lib/modules/6.1"), 0o755)
	os.WriteFile(filepath.Join(root, OptionsFile), []byte("# kept across kexec\nwatchdog stop_on_reboot=0\n\nother  a=1 b=2 \n"), 0o644)
	opts, err := ReadOptions(root)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"watchdog": "stop_on_reboot=0", "other": "a=1 b=2"}, opts); diff != "" {
		t.Errorf("options (-want +got):\n%s", diff)
	}
	for _, n := range []string{"watchdog", "i6300esb"} {
		os.WriteFile(filepath.Join(root, "lib/modules/6.1", n+".ko"), nil, 0o644)
	}
	got := map[string]string{}
	m := &Modules{Root: root, Release: "6.1", Options: opts, Exists: func(error) bool { return false },
		Load: func(f *os.File, params string) error { got[filepath.Base(f.Name())] = params; return nil }}
	m.loadPaths([]string{"lib/modules/6.1/watchdog.ko", "lib/modules/6.1/i6300esb.ko"})
	if diff := cmp.Diff(map[string]string{"watchdog.ko": "stop_on_reboot=0", "i6300esb.ko": ""}, got); diff != "" {
		t.Errorf("params given (-want +got):\n%s", diff)
	}
	if opts, err := ReadOptions(t.TempDir()); opts != nil || err != nil {
		t.Errorf("no options file: %v, %v", opts, err)
	}
}
