package bls

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
)

func TestSortSpec(t *testing.T) {
	// systemd's test-bootspec.c case, plus boot counting.
	fsys := fstest.MapFS{
		"loader/entries/a-10.conf":    {Data: []byte("title A\nversion 10\nmachine-id dd23\nlinux /k\n")},
		"loader/entries/a-5.conf":     {Data: []byte("title A\nversion 5\nmachine-id dd23\nlinux /k\n")},
		"loader/entries/b.conf":       {Data: []byte("title B\nversion 3\nmachine-id b754\nlinux /k\n")},
		"loader/entries/c.conf":       {Data: []byte("title C\nsort-key xxxx\nversion 5\nmachine-id 309d\nlinux /k\n")},
		"loader/entries/cx.conf":      {Data: []byte("title C\nsort-key xxxx\nversion 10\nmachine-id 309d\nlinux /k\n")},
		"loader/entries/d.conf":       {Data: []byte("title D\nsort-key kkkk\nversion 100\nmachine-id 81c6\nlinux /k\n")},
		"loader/entries/bad+0-3.conf": {Data: []byte("sort-key aaaa\nlinux /k\n")},
		"loader/entries/try+2.conf":   {Data: []byte("linux /k\n")},
	}
	cfg, err := Parse(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range cfg.Entries {
		got = append(got, e.ID)
	}
	want := []string{"d", "cx", "c", "try", "b", "a-10", "a-5", "bad"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
}

func TestParse(t *testing.T) {
	fsys := fstest.MapFS{
		"loader/loader.conf": {Data: []byte("# comment\ntimeout 3\ndefault debian-6.1.0-55*\n")},
		"loader/entries/debian-6.1.0-56.conf": {Data: []byte(
			"title  Debian\nversion 6.1.0-56\noptions root=/dev/vda2\noptions\tro quiet\nlinux /vmlinuz-56\ninitrd /ucode.img\ninitrd /initrd-56\n")},
		"loader/entries/debian-6.1.0-55.conf": {Data: []byte("title Debian\nversion 6.1.0-55\nlinux vmlinuz-55\noptions $kernelopts x\n")},
		"loader/entries/garbage.conf":         {Data: []byte("\x00\x01ELF")},
		"loader/entries/nolinux.conf":         {Data: []byte("title nothing\n")},
		"loader/entries/dtb.conf":             {Data: []byte("linux /k\ndevicetree /x.dtb\n")},
	}
	cfg, err := Parse(fsys, map[string]string{"kernelopts": "root=/dev/sda1"})
	if err != nil {
		t.Fatal(err)
	}
	want := []entry.Entry{
		{ID: "debian-6.1.0-56", Label: "Debian 6.1.0-56", Format: entry.BLS, Kernel: "/vmlinuz-56",
			Initrds: []string{"/ucode.img", "/initrd-56"}, Cmdline: "root=/dev/vda2 ro quiet", Version: "6.1.0-56",
			Source: entry.Source{File: "/loader/entries/debian-6.1.0-56.conf", Line: 1}, TriesLeft: -1},
		{ID: "debian-6.1.0-55", Label: "Debian 6.1.0-55", Format: entry.BLS, Kernel: "/vmlinuz-55",
			Cmdline: "root=/dev/sda1 x", Version: "6.1.0-55",
			Source: entry.Source{File: "/loader/entries/debian-6.1.0-55.conf", Line: 1}, TriesLeft: -1},
	}
	if diff := cmp.Diff(want, cfg.Entries); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if cfg.Default != 1 || cfg.Timeout == nil || cfg.Timeout.Seconds() != 3 {
		t.Errorf("Default, Timeout = %d, %v; want 1, 3s", cfg.Default, cfg.Timeout)
	}
	warn := strings.Join(entry.Strings(cfg.Warnings), "\n")
	for _, w := range []string{
		"/loader/entries/garbage.conf:1: not a text file",
		"/loader/entries/nolinux.conf: no \"linux\" line",
		"/loader/entries/dtb.conf:2: devicetree is not supported",
	} {
		if !strings.Contains(warn, w) {
			t.Errorf("Warnings = %q, want one containing %q", cfg.Warnings, w)
		}
	}
}

func TestBootDir(t *testing.T) {
	fsys := fstest.MapFS{"boot/loader/entries/x.conf": {Data: []byte("linux /vmlinuz\ninitrd initrd.img\n")}}
	cfg, err := Parse(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if e := cfg.Entries[0]; e.Kernel != "/boot/vmlinuz" || e.Initrds[0] != "/boot/initrd.img" {
		t.Errorf("paths = %q %q, want them under /boot", e.Kernel, e.Initrds)
	}
}

func TestDefaultNoMatch(t *testing.T) {
	fsys := fstest.MapFS{
		"loader/loader.conf":    {Data: []byte("default nope\n")},
		"loader/entries/x.conf": {Data: []byte("linux /k\n")},
	}
	cfg, err := Parse(fsys, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := `/loader/loader.conf: default "nope" matches no entry; using "x"`; len(cfg.Warnings) != 1 || cfg.Warnings[0].String() != want {
		t.Errorf("Warnings = %q, want [%q]", cfg.Warnings, want)
	}
}

func FuzzParseEntry(f *testing.F) {
	f.Add("x+3-1.conf", []byte("title T\nversion 1\nlinux /k\ninitrd /i\noptions a $kernelopts\n"))
	f.Add("y.conf", []byte("sort-key s\nmachine-id m\nlinux k\narchitecture x64\n"))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		e, err := ParseEntry(name, data, map[string]string{"kernelopts": "k=v"})
		if (e == nil) == (err == nil) {
			t.Fatalf("ParseEntry = %v, %v: want exactly one of entry and error", e, err)
		}
		if e != nil && e.Kernel == "" {
			t.Fatal("entry without a kernel")
		}
	})
}
