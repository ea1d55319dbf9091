package loader

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/netboot"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/lease"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

// netTest serves an iPXE script, a kernel and an initrd over HTTP and
// gives bt a network that finds them, as RealNetwork does once DHCP has
// answered with the script's URL.
type netTest struct {
	files map[string][]byte
	url   string
	calls int
}

func newNetTest(t *testing.T, bt *bootTest) *netTest {
	nt := &netTest{files: map[string][]byte{
		"/boot.ipxe":    []byte("#!ipxe\nkernel k/vmlinuz console=ttyS0 net=yes\ninitrd k/initrd.img\nboot\n"),
		"/k/vmlinuz":    testtool.BzImage(5120),
		"/k/initrd.img": []byte("initrd from the network"),
	}}
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := nt.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(s.Close)
	nt.url = s.URL
	f := &fetch.Client{}
	bt.pipe.Fetch = f
	bt.network = func(ctx context.Context) NetFound {
		nt.calls++
		found, err := (&netboot.Finder{Fetch: f}).Find(ctx, lease.Lease{Interface: "eth0", Bootfile: s.URL + "/boot.ipxe"})
		if err != nil {
			return NetFound{Said: []string{err.Error()}}
		}
		return NetFound{Configs: []*entry.Config{found.Config}}
	}
	return nt
}

// sign writes the network entry's manifest beside its kernel.
func (nt *netTest) sign(t *testing.T, priv []byte, kernel []byte) {
	m := manifest.Manifest{
		Kernel:  manifest.File{Path: "/k/vmlinuz", SHA256: sha256.Sum256(kernel)},
		Initrds: []manifest.File{{Path: "/k/initrd.img", SHA256: sha256.Sum256(nt.files["/k/initrd.img"])}},
		Cmdline: "console=ttyS0 net=yes",
	}
	nt.files["/k/vmlinuz.manifest"] = m.Sign(priv)
}

// With no entries on the disks, the network's boots, its files read
// from the server.
func TestPassNetworkOnly(t *testing.T) {
	bt := newBootTest(t)
	bt.dirs = map[string]string{}
	newNetTest(t, bt)
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"kexec_file_load: console=ttyS0 net=yes"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
}

// warmboot.net=first under enforce: the signed network entry boots
// first; tampered, it is refused by its URL and the disk's default
// boots instead. The network's entries come after the disks' by default.
func TestPassNetworkVerified(t *testing.T) {
	pub, priv, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	enforce := trust.Trust{Policy: trust.Enforce, Edits: trust.EditsRefuse, Keys: []trust.Key{{Public: pub}}}

	bt := newBootTest(t)
	nt := newNetTest(t, bt)
	nt.sign(t, priv, nt.files["/k/vmlinuz"])
	bt.pipe.Trust, bt.cfg.Net = enforce, NetFirst
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"kexec_file_load: console=ttyS0 net=yes"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, "verified: signed by "+trust.Fingerprint(pub)+" ("+nt.url+"/k/vmlinuz.manifest)")

	bt = newBootTest(t)
	nt = newNetTest(t, bt)
	nt.sign(t, priv, nt.files["/k/vmlinuz"])
	nt.files["/k/vmlinuz"][600] ^= 1 // after signing: tampered on the server
	bt.pipe.Trust, bt.cfg.Net = enforce, NetFirst
	// A's manifest, so that the disk's default passes.
	bt.signLocal(t, priv, "a")
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v, want kexec\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=a"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, `refused "iPXE `+nt.url+`/k/vmlinuz": does not match its signed manifest: kernel `+nt.url+"/k/vmlinuz has SHA-256", "; trying the next entry")

	// Last, by default: the disk's default boots, the network's is in
	// the menu after it.
	bt = newBootTest(t)
	nt = newNetTest(t, bt)
	newNetURL = func(*bootTest) string { return nt.url }
	m := bt.finishNetwork(bt.startNetwork(bt.ctx(t)), bt.mustDiscover(t))
	var labels []string
	for _, e := range m.Entries {
		labels = append(labels, e.Label)
	}
	want := "A, B, iPXE " + newNetURL(bt) + "/k/vmlinuz"
	if got := strings.Join(labels, ", "); got != want || m.Default != 0 {
		t.Errorf("menu %s (default %d), want %s, A the default", got, m.Default, want)
	}
}

// A running system that asks for an entry does not wait for DHCP.
func TestPassHandoffSkipsNetwork(t *testing.T) {
	bt := newBootTest(t)
	nt := newNetTest(t, bt)
	bt.handoff = &handoff.Record{}
	if ch := bt.startNetwork(bt.ctx(t)); ch != nil || nt.calls != 0 {
		t.Errorf("the network was looked at (%d) with a handoff", nt.calls)
	}
	bt.handoff = nil
	bt.cfg.Net = NetOff
	if ch := bt.startNetwork(bt.ctx(t)); ch != nil {
		t.Errorf("the network was looked at with warmboot.net=off")
	}
}

var newNetURL func(*bootTest) string

// signLocal signs the disk's entry id ("a" or "b") as it is.
func (bt *bootTest) signLocal(t *testing.T, priv []byte, id string) {
	t.Helper()
	kernel, err := os.ReadFile(filepath.Join(bt.root, "vmlinuz-"+id))
	if err != nil {
		t.Fatal(err)
	}
	m := manifest.Manifest{Kernel: manifest.File{Path: "/vmlinuz-" + id, SHA256: sha256.Sum256(kernel)}, Cmdline: "root=/dev/vda2 entry=" + id}
	os.MkdirAll(filepath.Join(bt.root, "warmboot"), 0o755)
	if err := os.WriteFile(filepath.Join(bt.root, "warmboot", id+".manifest"), m.Sign(priv), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mustDiscover is the disks' menu.
func (bt *bootTest) mustDiscover(t *testing.T) choose.Menu {
	m, _ := bt.discover()
	if len(m.Entries) == 0 {
		t.Fatalf("no entries on the disks")
	}
	return m
}
