package netboot

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/lease"
	"github.com/warmboot/warmboot/internal/testtool"
)

func serve(t *testing.T, files map[string]string) string { return testtool.Serve(t, files) }

type view struct {
	ID, Label, Format, Kernel, Cmdline, Source string
	Initrds                                    []string
}

func find(t *testing.T, files map[string]string, bootfile string) ([]view, []string, error) {
	t.Helper()
	srv := serve(t, files)
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	l := lease.Lease{Interface: "eth0", MAC: mac, IP: net.IPv4(10, 0, 2, 15), Bootfile: strings.ReplaceAll(bootfile, "SRV", srv), Hostname: "node7"}
	f := &Finder{Fetch: &fetch.Client{}}
	found, err := f.Find(context.Background(), l)
	if err != nil {
		return nil, nil, err
	}
	var vs []view
	for _, e := range found.Config.Entries {
		if e.Net == nil || e.Net.Interface != "eth0" || e.Root != "" {
			t.Errorf("entry %s: Net %+v Root %q", e.ID, e.Net, e.Root)
		}
		v := view{ID: e.ID, Label: e.Label, Format: string(e.Format), Kernel: e.Kernel, Cmdline: e.Cmdline, Source: e.Source.String(), Initrds: e.Initrds}
		vs = append(vs, v)
	}
	for i := range vs {
		r := strings.NewReplacer(srv, "SRV")
		vs[i].ID, vs[i].Label, vs[i].Kernel, vs[i].Source = r.Replace(vs[i].ID), r.Replace(vs[i].Label), r.Replace(vs[i].Kernel), r.Replace(vs[i].Source)
		for j := range vs[i].Initrds {
			vs[i].Initrds[j] = r.Replace(vs[i].Initrds[j])
		}
	}
	return vs, entry.Strings(found.Config.Warnings), nil
}

func TestFind(t *testing.T) {
	files := map[string]string{
		"/boot.ipxe":                             "#!ipxe\nkernel vmlinuz console=ttyS0 host=${hostname}\ninitrd initrd.img\nboot\n",
		"/vmlinuz":                               "MZkernel",
		"/initrd.img":                            "initrd",
		"/pxe/lpxelinux.0":                       "binary",
		"/pxe/pxelinux.cfg/01-52-54-00-12-34-56": "DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n  APPEND initrd=initrd.img console=ttyS0\nLABEL rescue\n  LINUX /vmlinuz\n  APPEND single\n",
	}
	got, warns, err := find(t, files, "SRV/boot.ipxe")
	want := []view{{ID: "SRV/vmlinuz", Label: "iPXE SRV/vmlinuz", Format: "ipxe", Kernel: "SRV/vmlinuz", Cmdline: "console=ttyS0 host=node7",
		Source: "SRV/boot.ipxe:4", Initrds: []string{"SRV/initrd.img"}}}
	if err != nil || len(warns) > 0 || !cmp.Equal(want, got) {
		t.Errorf("iPXE: %v %v %s", err, warns, cmp.Diff(want, got))
	}

	got, warns, err = find(t, files, "SRV/pxe/lpxelinux.0")
	want = []view{
		{ID: "linux", Label: "linux (SRV/pxe/pxelinux.cfg/01-52-54-00-12-34-56)", Format: "syslinux", Kernel: "SRV/pxe/vmlinuz",
			Cmdline: "BOOT_IMAGE=vmlinuz initrd=initrd.img console=ttyS0", Source: "SRV/pxe/pxelinux.cfg/01-52-54-00-12-34-56:2", Initrds: []string{"SRV/pxe/initrd.img"}},
		{ID: "rescue", Label: "rescue (SRV/pxe/pxelinux.cfg/01-52-54-00-12-34-56)", Format: "syslinux", Kernel: "SRV/vmlinuz",
			Cmdline: "BOOT_IMAGE=/vmlinuz single", Source: "SRV/pxe/pxelinux.cfg/01-52-54-00-12-34-56:5"},
	}
	if err != nil || len(warns) > 0 || !cmp.Equal(want, got) {
		t.Errorf("pxelinux: %v %v %s", err, warns, cmp.Diff(want, got))
	}

	got, _, err = find(t, files, "SRV/vmlinuz")
	if err != nil || len(got) != 1 || got[0].Kernel != "SRV/vmlinuz" || got[0].Format != "explicit" {
		t.Errorf("bare kernel: %v %+v", err, got)
	}

	delete(files, "/pxe/pxelinux.cfg/01-52-54-00-12-34-56")
	_, _, err = find(t, files, "SRV/pxe/lpxelinux.0")
	if err == nil || !strings.Contains(err.Error(), "pxelinux: none of pxelinux.cfg/01-52-54-00-12-34-56, pxelinux.cfg/0A00020F,") || !strings.Contains(err.Error(), "pxelinux.cfg/default under http://") {
		t.Errorf("no pxelinux config: %v", err)
	}

	_, _, err = find(t, files, "SRV/missing.ipxe")
	if err == nil || !strings.Contains(err.Error(), "/missing.ipxe: HTTP 404 Not Found") {
		t.Errorf("missing boot file: %v", err)
	}
}

// A boot file meant for firmware (iPXE's, GRUB's) is named, not
// downloaded and refused as a kernel.
func TestFirmwareBootfile(t *testing.T) {
	for _, f := range []string{"SRV/undionly.kpxe", "SRV/ipxe.efi", "SRV/grubx64.efi"} {
		_, _, err := find(t, map[string]string{}, f)
		if err == nil || !strings.Contains(err.Error(), "is a program for firmware") {
			t.Errorf("%s: %v", f, err)
		}
	}
}
