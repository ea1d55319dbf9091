package discover

import (
	"strings"
	"testing"
	"testing/fstest"

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
		warns = append(warns, c.Warnings...)
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
	if len(cs) != 1 || cs[0].Format != entry.Syslinux || len(cs[0].Warnings) != 1 || cs[0].Warnings[0] != "/extlinux.conf: no bootable entries" {
		t.Errorf("Scan(empty extlinux.conf) = %+v, want one config warning of no entries", cs)
	}
}
