package discover

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/safefs"

	"github.com/warmboot/warmboot/boot/entry"
)

func TestScan(t *testing.T) {
	fsys := fstest.MapFS{
		"loader/entries/a.conf":      {Data: []byte("title A\nlinux /vmlinuz\noptions $kernelopts\n")},
		"grub2/grubenv":              {Data: []byte("# GRUB Environment Block\nkernelopts=root=/dev/vda2 ro\n###")},
		"grub2/grub.cfg":             {Data: []byte("menuentry 'G' {\n linux /vmlinuz g\n}\n")},
		"boot/grub/grub.cfg":         {Data: []byte("menuentry 'broken' {\n")},
		"extlinux/extlinux.conf":     {Data: []byte("label s\nkernel /vmlinuz\n")},
		"boot/syslinux/syslinux.cfg": {Data: []byte("label x\ncom32 menu.c32\n")},
	}
	cs := Scan([]entry.Volume{{FS: fsys, Dir: "/mnt/vda2", Device: "vda2"}})
	var got []string
	for _, c := range cs {
		for _, e := range c.Entries {
			got = append(got, string(c.Format)+":"+e.ID+":"+e.Cmdline)
			if e.Root != "/mnt/vda2" || e.Source.Device != "vda2" {
				t.Errorf("entry %s: Root, Device = %q, %q; want /mnt/vda2, vda2", e.ID, e.Root, e.Source.Device)
			}
		}
	}
	want := "bls:a:root=/dev/vda2 ro|grub:G:BOOT_IMAGE=/vmlinuz g|syslinux:s:BOOT_IMAGE=/vmlinuz"
	if strings.Join(got, "|") != want {
		t.Errorf("entries = %q, want %q", strings.Join(got, "|"), want)
	}
	var warns []string
	for _, c := range cs {
		warns = append(warns, entry.Strings(c.Warnings)...)
	}
	all := strings.Join(warns, "\n")
	for _, w := range []string{
		`vda2:/boot/grub/grub.cfg:1: menuentry is missing its closing "}"`,
		"vda2:/boot/syslinux/syslinux.cfg:1: LABEL x is a COM32 entry",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings %q lack %q", warns, w)
		}
	}
}

func TestScanEmpty(t *testing.T) {
	if cs := ScanDir(fstest.MapFS{"etc/fstab": {}}, "/"); len(cs) != 0 {
		t.Errorf("Scan(no configs) = %d configs, want 0", len(cs))
	}
	cs := ScanDir(fstest.MapFS{"extlinux.conf": {Data: []byte("timeout 10\n")}}, "/")
	if len(cs) != 1 || cs[0].Format != entry.Syslinux || len(cs[0].Warnings) != 1 || cs[0].Warnings[0].String() != "/extlinux.conf: no bootable entries" {
		t.Errorf("Scan(empty extlinux.conf) = %+v, want one config warning of no entries", cs)
	}
}

// TestScanHostile: a FIFO as a BLS entry, grub.cfg linked to /dev/console
// and a grub.cfg nested 20000 deep beside a good entry: each is reported,
// nothing hangs, and the good entry is offered.
func TestScanHostile(t *testing.T) {
	dir := t.TempDir()
	mk := func(p, data string) {
		os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mk("loader/entries/good.conf", "title Good\nlinux /vmlinuz\n")
	mk("boot/grub2/grub.cfg", strings.Repeat("submenu x {\n", 20000)+strings.Repeat("}\n", 20000))
	if err := syscall.Mkfifo(filepath.Join(dir, "loader/entries/fifo.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(dir, "grub"), 0o755)
	if err := os.Symlink("/dev/console", filepath.Join(dir, "grub/grub.cfg")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "extlinux.conf"), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan []*entry.Config)
	go func() { done <- Scan([]entry.Volume{{FS: safefs.Dir(dir), Dir: dir, Device: "vda1"}}) }()
	var cs []*entry.Config
	select {
	case cs = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Scan hangs on a hostile disk")
	}
	var got, warns []string
	for _, c := range cs {
		for _, e := range c.Entries {
			got = append(got, e.ID)
		}
		warns = append(warns, entry.Strings(c.Warnings)...)
	}
	if !cmp.Equal(got, []string{"good"}) {
		t.Errorf("entries = %v, want only good", got)
	}
	all := strings.Join(warns, "\n")
	for _, w := range []string{
		"vda1:/loader/entries/fifo.conf: open loader/entries/fifo.conf: not a regular file (a FIFO)",
		"vda1:/grub/grub.cfg: not read: statat grub/grub.cfg: path escapes from parent (a config must be a file on this filesystem)",
		"vda1:/boot/grub2/grub.cfg:33: blocks nested deeper than 32; fix the config",
		"vda1:/extlinux.conf: not read: it is a FIFO, not a regular file",
	} {
		if !strings.Contains(all, w) {
			t.Errorf("warnings lack %q:\n%s", w, all)
		}
	}
}
