package syslinux

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/internal/testtool"
)

func testFS(t testing.TB) fstest.MapFS {
	t.Helper()
	fsys := fstest.MapFS{}
	for _, n := range []string{"extlinux.conf", "more.conf"} {
		data, err := os.ReadFile("testdata/" + n)
		if err != nil {
			t.Fatal(err)
		}
		fsys["boot/extlinux/"+n] = &fstest.MapFile{Data: data}
	}
	return fsys
}

func TestParse(t *testing.T) {
	cfg, err := Parse(testFS(t), "boot/extlinux/extlinux.conf")
	if err != nil {
		t.Fatal(err)
	}
	five := 5 * time.Second
	src := func(f string, l int) entry.Source { return entry.Source{File: "/boot/extlinux/" + f, Line: l} }
	want := &entry.Config{
		Format: entry.Syslinux,
		Source: entry.Source{File: "/boot/extlinux/extlinux.conf"},
		Entries: []entry.Entry{
			{ID: "l0", Label: "Debian GNU/Linux 6.1.0-55-amd64", Format: entry.Syslinux, Kernel: "/boot/vmlinuz-6.1.0-55-amd64",
				Initrds: []string{"/boot/initrd.img-6.1.0-55-amd64"}, Cmdline: "BOOT_IMAGE=/boot/vmlinuz-6.1.0-55-amd64 root=/dev/vda2 ro quiet initrd=/boot/initrd.img-6.1.0-55-amd64", Source: src("extlinux.conf", 8), TriesLeft: -1},
			{ID: "l1", Label: "Debian GNU/Linux 6.1.0-56-amd64", Format: entry.Syslinux, Kernel: "/boot/vmlinuz-6.1.0-56-amd64",
				Initrds: []string{"/boot/ucode.img", "/boot/initrd.img-6.1.0-56-amd64"}, Cmdline: "BOOT_IMAGE=../vmlinuz-6.1.0-56-amd64 initrd=../ucode.img,../initrd.img-6.1.0-56-amd64 root=/dev/vda2 ro", Source: src("extlinux.conf", 14), TriesLeft: -1},
			{ID: "rescue", Label: "Rescue", Format: entry.Syslinux, Kernel: "/boot/vmlinuz-6.1.0-56-amd64",
				Cmdline: "BOOT_IMAGE=/boot/vmlinuz-6.1.0-56-amd64 console=ttyS0", Source: src("more.conf", 1), TriesLeft: -1},
		},
		Default:  1,
		Timeout:  &five,
		Warnings: []entry.Warning{{Source: entry.Source{File: "/boot/extlinux/extlinux.conf", Line: 19}, Msg: "LABEL hdt is a COM32 entry, not a Linux kernel; skipped"}},
	}
	if diff := cmp.Diff(want, cfg); diff != "" {
		t.Errorf("Parse mismatch (-want +got):\n%s", diff)
	}
}

func TestDefaults(t *testing.T) {
	for _, tt := range []struct {
		name, src string
		want      int
		warning   string
	}{
		{"menu default", "label a\nkernel /a\nlabel b\nmenu default\nkernel /b\n", 1, ""},
		{"ontimeout", "ontimeout b\nlabel a\nkernel /a\nlabel b\nkernel /b\n", 1, ""},
		{"unknown default", "default zz\nlabel a\nkernel /a\n", 0, `/s.cfg:1: default "zz" matches no LABEL; using "a"`},
		{"append dash", "append x\nlabel a\nkernel /a\nappend -\n", 0, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse(fstest.MapFS{"s.cfg": {Data: []byte(tt.src)}}, "s.cfg")
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Default != tt.want {
				t.Errorf("Default = %d, want %d", cfg.Default, tt.want)
			}
			if tt.warning != "" && !strings.Contains(strings.Join(entry.Strings(cfg.Warnings), "\n"), tt.warning) {
				t.Errorf("Warnings = %q, want %q", cfg.Warnings, tt.warning)
			}
		})
	}
}

func TestBinary(t *testing.T) {
	_, err := Parse(fstest.MapFS{"s.cfg": {Data: []byte("label a\n\x00\x01\x02")}}, "s.cfg")
	if err == nil || !strings.Contains(err.Error(), "/s.cfg:2: not a text file") {
		t.Errorf("Parse(binary) = %v, want error naming /s.cfg:2", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"extlinux.conf", "more.conf"} {
		data, err := os.ReadFile("testdata/" + n)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 64<<10 {
			return
		}
		var cfg *entry.Config
		var err error
		testtool.Bounded(t, func() { cfg, err = Parse(fstest.MapFS{"s.cfg": {Data: data}, "more.conf": {Data: data}}, "s.cfg") })
		if err != nil {
			return
		}
		if len(cfg.Entries) > 0 && (cfg.Default < 0 || cfg.Default >= len(cfg.Entries)) {
			t.Fatalf("Default %d out of range", cfg.Default)
		}
		for _, e := range cfg.Entries {
			if !strings.HasPrefix(e.Kernel, "/") {
				t.Fatalf("kernel %q not absolute", e.Kernel)
			}
		}
	})
}
