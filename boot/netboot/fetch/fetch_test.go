package fetch

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func fetchAll(c *Client, u *url.URL, limit int64) ([]byte, error) {
	r, _, err := c.Open(context.Background(), u, limit)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

var kernel = bytes.Repeat([]byte("kernel!"), 100000)

func httpServer(t *testing.T, tls bool) (*httptest.Server, *x509.CertPool) {
	mux := http.NewServeMux()
	mux.HandleFunc("/vmlinuz", func(w http.ResponseWriter, r *http.Request) { w.Write(kernel) })
	mux.HandleFunc("/boot.ipxe", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "#!ipxe\nboot\n") })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	mux.HandleFunc("/endless", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 64<<10)
		for {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	})
	mux.HandleFunc("/stall", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000000")
		w.Write(make([]byte, 1000))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	mux.HandleFunc("/silent", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(10<<20))
		w.Write(make([]byte, 1))
	})
	var s *httptest.Server
	if tls {
		s = httptest.NewTLSServer(mux)
	} else {
		s = httptest.NewServer(mux)
	}
	t.Cleanup(s.Close)
	if !tls {
		return s, nil
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	return s, pool
}

func TestHTTP(t *testing.T) {
	s, _ := httpServer(t, false)
	c := &Client{IdleTimeout: 300 * time.Millisecond}
	got, err := fetchAll(c, parse(t, s.URL+"/vmlinuz"), 1<<20)
	if err != nil || !bytes.Equal(got, kernel) {
		t.Fatalf("vmlinuz: %d bytes, %v; want %d bytes", len(got), err, len(kernel))
	}
	for _, tc := range []struct {
		path  string
		limit int64
		want  error
		msg   string
	}{
		{"/nope", 1 << 20, nil, "HTTP 404 Not Found"},
		{"/vmlinuz", 1000, ErrTooLarge, "larger than the limit: more than 1000 bytes"},
		{"/big", 1 << 20, ErrTooLarge, "the server says 10485760 bytes"},
		{"/endless", 1 << 20, ErrTooLarge, "larger than the limit: more than 1 MiB"},
		{"/stall", 1 << 20, ErrStalled, "nothing received for 300ms"},
		{"/silent", 1 << 20, ErrStalled, "no answer in 300ms"},
		{"/loop", 1 << 20, nil, "more than 5 redirects"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			start := time.Now()
			_, err := fetchAll(c, parse(t, s.URL+tc.path), tc.limit)
			if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("fetch %s = %v, want %v with %q", tc.path, err, tc.want, tc.msg)
			}
			if !strings.Contains(fmt.Sprint(err), s.URL+tc.path) {
				t.Errorf("error %q does not name the URL", err)
			}
			t.Logf("%s: %v (%s)", tc.path, err, time.Since(start).Round(time.Millisecond))
		})
	}
}

func TestProbe(t *testing.T) {
	s, _ := httpServer(t, false)
	c := &Client{}
	text, script, err := c.Probe(context.Background(), parse(t, s.URL+"/boot.ipxe"), 1<<10)
	if err != nil || !script || string(text) != "#!ipxe\nboot\n" {
		t.Errorf("Probe(boot.ipxe) = %q, %v, %v", text, script, err)
	}
	text, script, err = c.Probe(context.Background(), parse(t, s.URL+"/vmlinuz"), 1<<10)
	if err != nil || script || text != nil {
		t.Errorf("Probe(vmlinuz) = %q, %v, %v; want not a script", text, script, err)
	}
	if _, _, err := c.Probe(context.Background(), parse(t, s.URL+"/nope"), 1<<10); err == nil {
		t.Errorf("Probe(nope) succeeded")
	}
}

func TestHTTPS(t *testing.T) {
	s, pool := httpServer(t, true)
	u := parse(t, s.URL+"/vmlinuz")
	built := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	good := &Client{RootCAs: pool, NotBefore: built}
	if got, err := fetchAll(good, u, 1<<20); err != nil || !bytes.Equal(got, kernel) {
		t.Errorf("https with the server's CA: %d bytes, %v", len(got), err)
	}
	for _, tc := range []struct {
		name string
		c    *Client
		msg  string
	}{
		{"no CAs", &Client{}, "the image has no certificate authorities"},
		{"unknown CA", &Client{RootCAs: x509.NewCertPool()}, "certificate signed by unknown authority"},
		{"clock before the build", &Client{RootCAs: pool, NotBefore: built, Now: func() time.Time { return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC) }},
			"the clock reads 2000-01-01T00:00:00Z, before this image was built (2026-12-01)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := fetchAll(tc.c, u, 1<<20)
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("fetch = %v, want an error with %q", err, tc.msg)
			}
		})
	}
	// A redirect to plain HTTP is refused.
	plain, _ := httpServer(t, false)
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/vmlinuz", http.StatusFound)
	})
	down := httptest.NewTLSServer(mux)
	defer down.Close()
	pool.AddCert(down.Certificate())
	if _, err := fetchAll(good, parse(t, down.URL+"/x"), 1<<20); err == nil || !strings.Contains(err.Error(), "redirected from https to") {
		t.Errorf("https -> http redirect: %v", err)
	}
}

// A server that trickles a byte just often enough to beat the idle
// timeout still ends: by its rate once the grace has passed, and by the
// most a file may take.
func TestTrickle(t *testing.T) {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for {
			if _, err := w.Write([]byte{0}); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	defer s.Close()
	for _, tc := range []struct {
		c    *Client
		want string
	}{
		{&Client{IdleTimeout: time.Second, RateGrace: 300 * time.Millisecond, MinRate: 1 << 10}, "less than 1 KiB/s"},
		{&Client{IdleTimeout: time.Second, RateGrace: time.Hour, MaxTime: 300 * time.Millisecond}, "the most a file may take"},
	} {
		start := time.Now()
		_, err := fetchAll(tc.c, parse(t, s.URL+"/k"), 1<<30)
		if !errors.Is(err, ErrTooSlow) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("trickle: %v, want %v with %q", err, ErrTooSlow, tc.want)
		}
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("trickle ended after %s", d)
		}
	}
}
