package loader

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/machine"
	"github.com/warmboot/warmboot/boot/netboot"
	"github.com/warmboot/warmboot/boot/netboot/fetch"
	"github.com/warmboot/warmboot/boot/netboot/lease"
	"github.com/warmboot/warmboot/internal/testtool"
)

// Regression tests from the review of network boot.

// A kernel server that sends one byte every 100ms never trips the idle
// timeout (500ms here, 15s in the image): its average rate ends it (after
// 1s here, 30s in the image), and the disk's entry A boots.
func TestReviewTricklingKernelHangsBoot(t *testing.T) {
	bt := newBootTest(t)
	trickle(t, bt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan machine.Action, 1)
	go func() { done <- bt.Pass(ctx) }()
	select {
	case a := <-done:
		if a != kexecNow {
			t.Errorf("pass = %v", a)
		}
	case <-time.After(6 * time.Second):
		t.Fatalf("Pass has not returned 6s in (idle timeout 500ms, Pass's context ended at 2s): a trickling server holds the boot forever; the disk's entry A never boots")
	}
}

// The same with someone at the console: the network entry is the
// default and is staged in the background during the countdown; the
// operator picks the disk's entry A, and the background stage is
// stopped rather than waited for.
func TestReviewTricklingDefaultBlocksManualChoice(t *testing.T) {
	bt := newBootTest(t)
	bt.cfg.Timeout = nil
	trickle(t, bt)
	bt.keys <- '2' // A
	bt.keys <- '\r'
	done := make(chan machine.Action, 1)
	go func() { done <- bt.Pass(context.Background()) }()
	select {
	case <-done:
	case <-time.After(6 * time.Second):
		t.Fatalf("the operator chose A 6s ago; nothing booted:\n%s", bt.out)
	}
}

func trickle(t *testing.T, bt *bootTest) {
	stop := make(chan struct{})
	k := testtool.BzImage(4096)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(k[:8]) // the probe sees the start of a kernel
		w.(http.Flusher).Flush()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			if _, err := w.Write([]byte{k[8+i%(len(k)-8)]}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(s.Close)
	t.Cleanup(func() { close(stop) }) // runs before s.Close
	f := &fetch.Client{IdleTimeout: 500 * time.Millisecond, RateGrace: time.Second}
	bt.pipe.Fetch = f
	bt.cfg.Net = NetFirst
	bt.network = func(ctx context.Context) NetFound {
		found, err := (&netboot.Finder{Fetch: f}).Find(ctx, lease.Lease{Interface: "eth0", Bootfile: s.URL + "/vmlinuz"})
		if err != nil {
			return NetFound{Said: []string{err.Error()}}
		}
		return NetFound{Configs: []*entry.Config{found.Config}}
	}
}

// The most common pxelinux setup: the machine boots its disk unless the
// PXE server says otherwise (DEFAULT local / LOCALBOOT 0), with an
// installer offered. Under warmboot.net=first the disk's default boots,
// as LOCALBOOT asks, not a wait at the menu.
func TestReviewPXELinuxLocalbootWaitsForever(t *testing.T) {
	bt := newBootTest(t)
	bt.cfg.Timeout = nil // as in the image: the configs' timeout
	files := map[string]string{
		"/pxelinux.0":           "\x00binary",
		"/pxelinux.cfg/default": "DEFAULT local\nTIMEOUT 50\nLABEL local\n  LOCALBOOT 0\nLABEL install\n  KERNEL debian/vmlinuz\n  APPEND auto=true\n",
	}
	srv := testtool.Serve(t, files)
	f := &fetch.Client{}
	bt.pipe.Fetch = f
	bt.cfg.Net = NetFirst
	bt.network = func(ctx context.Context) NetFound {
		found, err := (&netboot.Finder{Fetch: f}).Find(ctx, lease.Lease{Interface: "eth0", Bootfile: srv + "/pxelinux.0"})
		if err != nil {
			return NetFound{Said: []string{err.Error()}}
		}
		return NetFound{Configs: []*entry.Config{found.Config}}
	}
	m := bt.finishNetwork(bt.startNetwork(bt.ctx(t)), bt.mustDiscover(t))
	if len(m.Entries) != 3 || m.Entries[0].ID != "install" || m.Entries[m.Default].ID != "2-a" || m.Timeout != nil && *m.Timeout < 0 {
		t.Errorf("menu: %d entries, first %q, default %q, timeout %v; want install first, the disk's default A, the disk's timeout", len(m.Entries), m.Entries[0].ID, m.Entries[m.Default].ID, m.Timeout)
	}
}
