// Package fetch reads files from the network for the bootloader: HTTP,
// HTTPS (with the certificate authorities baked into the image) and
// TFTP, each bounded the same way: a connect timeout, an idle timeout
// (a transfer that stops making progress ends), a size limit checked as
// the bytes arrive (an endless body ends at the limit), and a redirect
// limit. Nothing is buffered here: the caller streams a file where it
// wants it (the bootloader into a sealed memfd, hashing on the way).
//
// TLS proves where a file came from, never that it may boot: the trust
// policy checks what is fetched exactly as it checks a local disk's
// files. HTTPS is refused, saying why, when the clock reads earlier than
// the image was built: certificate validity means nothing then.
//
// TFTP is our own small client (RFC 1350 with RFC 2347-2349's blksize
// and tsize options and block-number rollover), because pack.ag/tftp,
// which u-root uses, cannot abort a transfer (its Response has no Close)
// nor take a context: a probe or an over-limit file would leave its
// socket to the server's timeout.
package fetch

import (
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Defaults for a zero Client.
const (
	DefaultConnectTimeout = 10 * time.Second
	DefaultIdleTimeout    = 15 * time.Second
	DefaultMaxRedirects   = 5
	// DefaultMaxTime bounds one file's transfer, and DefaultMinRate
	// its average speed once DefaultRateGrace has passed: a server that
	// trickles a byte just often enough to beat the idle timeout still
	// ends.
	DefaultMaxTime   = 5 * time.Minute
	DefaultMinRate   = 256 << 10 // bytes a second
	DefaultRateGrace = 30 * time.Second
)

// Client fetches files. The zero value fetches HTTP and TFTP and refuses
// HTTPS (no certificate authorities).
type Client struct {
	// RootCAs are the certificate authorities HTTPS servers are checked
	// against; nil refuses HTTPS.
	RootCAs *x509.CertPool
	// ConnectTimeout bounds connecting (and TLS's handshake).
	ConnectTimeout time.Duration
	// IdleTimeout ends a transfer that receives nothing for this long.
	IdleTimeout time.Duration
	// MaxRedirects bounds the redirects one HTTP fetch follows.
	MaxRedirects int
	// MaxTime bounds one file's transfer; MinRate (bytes a second) is
	// the average it must keep once RateGrace has passed. Zero values
	// are the defaults.
	MaxTime   time.Duration
	MinRate   int64
	RateGrace time.Duration
	// NotBefore is the earliest time the clock may plausibly read (the
	// image's build time): before it, HTTPS is refused.
	NotBefore time.Time
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// UserAgent is sent to HTTP servers.
	UserAgent string

	once sync.Once
	http *http.Client
}

// Error is a fetch that failed: it names the URL.
type Error struct {
	URL string
	Err error
}

func (e *Error) Error() string { return e.URL + ": " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// StatusError is an HTTP answer other than 200 OK.
type StatusError struct {
	Code   int
	Status string
}

func (e *StatusError) Error() string { return "HTTP " + e.Status }

// TFTPError is a TFTP server's ERROR packet.
type TFTPError struct {
	Code uint16
	Msg  string
}

func (e *TFTPError) Error() string {
	return fmt.Sprintf("tftp: the server says %q (code %d)", e.Msg, e.Code)
}

// NotFound says whether err is a server saying it has no such file: HTTP
// 404 or 410, or 403 (object stores without list permission, S3 and
// GCS, say 403 for a missing object), TFTP's error 1.
func NotFound(err error) bool {
	var se *StatusError
	var te *TFTPError
	switch {
	case errors.As(err, &se):
		return se.Code == http.StatusNotFound || se.Code == http.StatusGone || se.Code == http.StatusForbidden
	case errors.As(err, &te):
		return te.Code == 1
	}
	return false
}

// ErrTooLarge is a file larger than the limit it was fetched with.
var ErrTooLarge = errors.New("larger than the limit")

// ErrStalled is a transfer that made no progress for IdleTimeout.
var ErrStalled = errors.New("stalled")

// ErrTooSlow is a transfer slower than MinRate, or longer than MaxTime.
var ErrTooSlow = errors.New("too slow")

func (c *Client) connectTimeout() time.Duration {
	if c.ConnectTimeout > 0 {
		return c.ConnectTimeout
	}
	return DefaultConnectTimeout
}

func (c *Client) idleTimeout() time.Duration {
	if c.IdleTimeout > 0 {
		return c.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Open starts fetching u. Reading the result gives the file's bytes and
// fails (*Error wrapping ErrTooLarge) past limit bytes, or (ErrStalled)
// when nothing arrives for IdleTimeout. size is the length the server
// announced, -1 when it did not. Close ends the transfer.
func (c *Client) Open(ctx context.Context, u *url.URL, limit int64) (rc io.ReadCloser, size int64, err error) {
	name := u.Redacted()
	defer func() {
		if err != nil {
			err = &Error{URL: name, Err: err}
		}
	}()
	var body io.ReadCloser
	switch u.Scheme {
	case "http", "https":
		body, size, err = c.openHTTP(ctx, u, limit)
	case "tftp":
		body, size, err = c.openTFTP(ctx, u, limit)
	default:
		return nil, 0, fmt.Errorf("scheme %q: warmboot fetches http, https and tftp", u.Scheme)
	}
	if err != nil {
		return nil, 0, err
	}
	l := &limited{r: body, name: name, left: limit, limit: limit, now: c.now, start: c.now(),
		maxTime: cmp.Or(c.MaxTime, DefaultMaxTime), minRate: cmp.Or(c.MinRate, DefaultMinRate), grace: cmp.Or(c.RateGrace, DefaultRateGrace)}
	return l, size, nil
}

// limited fails a read past the limit, naming the file.
type limited struct {
	r           io.ReadCloser
	name        string
	left, limit int64
	// The rate rule: the clock, when the transfer began, and its bounds.
	now     func() time.Time
	start   time.Time
	maxTime time.Duration
	minRate int64
	grace   time.Duration
}

// slow says why the transfer must end for its speed, nil while it may go on.
func (l *limited) slow() error {
	d := l.now().Sub(l.start)
	got := l.limit - l.left
	switch {
	case d > l.maxTime:
		return &Error{URL: l.name, Err: fmt.Errorf("%w: %d bytes in %s, the most a file may take", ErrTooSlow, got, l.maxTime)}
	case d > l.grace && float64(got) < float64(l.minRate)*d.Seconds():
		return &Error{URL: l.name, Err: fmt.Errorf("%w: %d bytes in %s, less than %d KiB/s", ErrTooSlow, got, d.Round(time.Second), l.minRate>>10)}
	}
	return nil
}

func (l *limited) tooLarge() error {
	return &Error{URL: l.name, Err: fmt.Errorf("%w: more than %s", ErrTooLarge, Size(l.limit))}
}

// Size prints a byte count as limits are given: "64 MiB", "256 KiB".
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (l *limited) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.tooLarge()
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n, l.tooLarge()
	}
	if err == nil {
		if serr := l.slow(); serr != nil {
			return n, serr
		}
	}
	if err != nil && err != io.EOF {
		var fe *Error
		if !errors.As(err, &fe) {
			err = &Error{URL: l.name, Err: err}
		}
	}
	return n, err
}

func (l *limited) Close() error { return l.r.Close() }

// Probe opens u and tells whether it is an iPXE script, returning its
// text (at most max bytes) if so; it reads only the first bytes of
// anything else.
func (c *Client) Probe(ctx context.Context, u *url.URL, max int64) ([]byte, bool, error) {
	r, _, err := c.Open(ctx, u, 1<<62)
	if err != nil {
		return nil, false, err
	}
	defer r.Close()
	head := make([]byte, 6)
	n, err := io.ReadFull(r, head)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return nil, false, &Error{URL: u.Redacted(), Err: errors.New("the file is empty")}
	case err != nil && err != io.ErrUnexpectedEOF && err != io.EOF:
		return nil, false, err
	}
	if s := string(head[:n]); s != "#!ipxe" && s != "#!gpxe" {
		return nil, false, nil
	}
	var b bytes.Buffer
	b.Write(head[:n])
	if _, err := b.ReadFrom(io.LimitReader(r, max+1-int64(n))); err != nil {
		return nil, false, err
	}
	if int64(b.Len()) > max {
		return nil, false, &Error{URL: u.Redacted(), Err: fmt.Errorf("%w: a script larger than %d KiB", ErrTooLarge, max>>10)}
	}
	return b.Bytes(), true, nil
}

// Plausible says whether the clock can be trusted for certificate
// validity, and if not, what to do.
func (c *Client) Plausible() error {
	now := c.now()
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore) {
		return fmt.Errorf("the clock reads %s, before this image was built (%s): certificates cannot be checked; set the firmware's clock (or hwclock --systohc from a running system) and boot again",
			now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format("2006-01-02"))
	}
	return nil
}

func (c *Client) client() *http.Client {
	c.once.Do(func() {
		d := &net.Dialer{Timeout: c.connectTimeout()}
		t := &http.Transport{
			Proxy:               nil,
			DialContext:         d.DialContext,
			TLSHandshakeTimeout: c.connectTimeout(),
			// The bytes as the server has them: they are hashed and
			// verified, so no transparent decompression.
			DisableCompression: true,
			MaxIdleConns:       4,
			IdleConnTimeout:    30 * time.Second,
			TLSClientConfig: &tls.Config{
				RootCAs:    c.RootCAs,
				MinVersion: tls.VersionTLS12,
				Time:       c.now,
			},
		}
		max := c.MaxRedirects
		if max <= 0 {
			max = DefaultMaxRedirects
		}
		c.http = &http.Client{
			Transport: t,
			CheckRedirect: func(req *http.Request, via []*http.Request) error {
				if len(via) > max {
					return fmt.Errorf("more than %d redirects", max)
				}
				if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
					return fmt.Errorf("redirected from https to %s", req.URL.Redacted())
				}
				return nil
			},
		}
	})
	return c.http
}

func (c *Client) openHTTP(ctx context.Context, u *url.URL, limit int64) (io.ReadCloser, int64, error) {
	if u.Scheme == "https" {
		if c.RootCAs == nil {
			return nil, 0, errors.New("https: the image has no certificate authorities to check the server with (build it with TLS_CAS)")
		}
		if err := c.Plausible(); err != nil {
			return nil, 0, fmt.Errorf("https not trusted: %w", err)
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		cancel(nil)
		return nil, 0, err
	}
	if c.UserAgent != "" {
		req.Header.Set("User-Agent", c.UserAgent)
	}
	// The idle timer covers the wait for headers too (with the
	// transport's ResponseHeaderTimeout) and is reset by every read.
	idle := time.AfterFunc(c.idleTimeout(), func() { cancel(ErrStalled) })
	resp, err := c.client().Do(req)
	if err != nil {
		idle.Stop()
		if cause := context.Cause(ctx); errors.Is(cause, ErrStalled) {
			err = fmt.Errorf("%w: no answer in %s", ErrStalled, c.idleTimeout())
		}
		cancel(nil)
		return nil, 0, unwrapURL(err)
	}
	if resp.StatusCode != http.StatusOK {
		idle.Stop()
		resp.Body.Close()
		cancel(nil)
		return nil, 0, &StatusError{Code: resp.StatusCode, Status: resp.Status}
	}
	if resp.ContentLength > limit {
		idle.Stop()
		resp.Body.Close()
		cancel(nil)
		return nil, 0, fmt.Errorf("%w: the server says %d bytes, the limit is %s", ErrTooLarge, resp.ContentLength, Size(limit))
	}
	return &idleBody{r: resp.Body, idle: idle, d: c.idleTimeout(), ctx: ctx, cancel: cancel}, resp.ContentLength, nil
}

// unwrapURL drops net/http's "Get \"URL\": " prefix: Error names the URL.
func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

type idleBody struct {
	r      io.ReadCloser
	idle   *time.Timer
	d      time.Duration
	ctx    context.Context
	cancel context.CancelCauseFunc
}

func (b *idleBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if n > 0 {
		b.idle.Reset(b.d)
	}
	if err != nil && err != io.EOF {
		if errors.Is(context.Cause(b.ctx), ErrStalled) {
			err = fmt.Errorf("%w: nothing received for %s", ErrStalled, b.d)
		}
	}
	return n, err
}

func (b *idleBody) Close() error {
	b.idle.Stop()
	err := b.r.Close()
	b.cancel(nil)
	return err
}

// NotFound is the package's NotFound, as a method (netfs.Fetcher).
func (c *Client) NotFound(err error) bool { return NotFound(err) }
