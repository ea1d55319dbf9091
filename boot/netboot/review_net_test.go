package netboot

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/lease"
)

// pxelinux tries each config name in turn and goes on at any failure to
// get one. Servers that cannot say 404 for a missing object (S3 and
// GCS buckets without list permission say 403) stop warmboot's search at
// the first name, the UUID's, though pxelinux.cfg/default is there.
func TestReviewPXELinuxSearchStopsAt403(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/pxelinux.0":
			w.Write([]byte("\x00pxe"))
		case "/pxelinux.cfg/default":
			w.Write([]byte("DEFAULT linux\nLABEL linux\n  KERNEL vmlinuz\n"))
		default:
			http.Error(w, "AccessDenied", http.StatusForbidden)
		}
	}))
	t.Cleanup(s.Close)
	mac, _ := net.ParseMAC("52:54:00:12:34:56")
	l := lease.Lease{Interface: "eth0", MAC: mac, IP: net.IPv4(10, 0, 2, 15), Bootfile: s.URL + "/pxelinux.0"}
	f := &Finder{Fetch: &fetch.Client{}, UUID: "8e6e4e8a-9c3b-4d8f-9a2e-1d2c3b4a5f60"}
	found, err := f.Find(context.Background(), l)
	if err != nil {
		t.Fatalf("Find: %v (pxelinux would have gone on to pxelinux.cfg/default)", err)
	}
	if len(found.Config.Entries) != 1 {
		t.Errorf("entries %+v", found.Config.Entries)
	}
}

// Labels are redacted (Kernel.Redacted()), but a boot file or script
// URL's password is kept in the entry's Source and ID, and the kernel
// URL's in e.At(e.Kernel): "loading %q from %s", "booting ... kernel
// %s", the refusal messages, warmboot list -json, the handoff record and
// the TPM event log's descriptions (measure.go e.At(e.Kernel)) all
// print it.
func TestReviewPasswordInURLLeaks(t *testing.T) {
	srv := serve(t, map[string]string{"/boot.ipxe": "#!ipxe\nkernel vmlinuz\nboot\n", "/vmlinuz": "kernel"})
	u := strings.Replace(srv, "http://", "http://ops:s3cret@", 1)
	f := &Finder{Fetch: &fetch.Client{}}
	found, err := f.Find(context.Background(), lease.Lease{Interface: "eth0", Bootfile: u + "/boot.ipxe"})
	if err != nil {
		t.Fatal(err)
	}
	e := found.Config.Entries[0]
	for what, s := range map[string]string{"Label": e.Label, "Source": e.Source.String(), "ID": e.ID, "Net.BootFile": e.Net.BootFile, "At(Kernel)": e.At(e.Kernel), "Config.Source": found.Config.Source.String()} {
		if strings.Contains(s, "s3cret") {
			t.Errorf("%s shows the password: %s", what, s)
		}
	}
}

// lpxelinux.0, which the README lists, exists to fetch KERNEL and INITRD
// by URL ("KERNEL http://mirror/vmlinuz"). warmboot joins the URL to the
// path prefix as a path: http://SRV/http:/mirror.example/vmlinuz, a 404
// on the wrong server, or a different file if that server has one.
func TestReviewLPXELinuxURLKernel(t *testing.T) {
	vs, warnings, err := find(t, map[string]string{
		"/lpxelinux.0":          "\x00pxe",
		"/pxelinux.cfg/default": "DEFAULT inst\nLABEL inst\n  KERNEL http://mirror.example/debian/vmlinuz\n  INITRD http://mirror.example/debian/initrd.gz\n",
	}, "SRV/lpxelinux.0")
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Kernel != "http://mirror.example/debian/vmlinuz" {
		t.Errorf("entries %+v, warnings %q; want the kernel http://mirror.example/debian/vmlinuz", vs, warnings)
	}
}
