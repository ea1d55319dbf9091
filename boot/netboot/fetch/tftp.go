package fetch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// TFTP opcodes (RFC 1350, RFC 2347).
const (
	opRRQ   = 1
	opDATA  = 3
	opACK   = 4
	opERROR = 5
	opOACK  = 6
)

// blksize is the block size asked for (RFC 2348): a 1500-byte MTU's
// worth, as pxelinux and iPXE ask.
const blksize = 1408

// tftpConn is one read transfer: Read returns the file's bytes as the
// blocks arrive, acknowledging each; Close abandons the transfer with
// an ERROR packet so the server stops at once.
type tftpConn struct {
	ctx     context.Context
	conn    *net.UDPConn
	server  *net.UDPAddr // the server's transfer ID once it answers
	last    []byte       // the packet to retransmit
	block   uint16       // the last block received
	blksize int
	buf     bytes.Buffer
	done    bool
	idle    time.Duration
	pkt     []byte
	stop    func() bool // ends the context's hold on the socket
}

func (c *Client) openTFTP(ctx context.Context, u *url.URL, limit int64) (io.ReadCloser, int64, error) {
	file := strings.TrimPrefix(u.Path, "/")
	if file == "" {
		return nil, 0, errors.New("no file in the URL")
	}
	if len(file) > 255 {
		return nil, 0, errors.New("file name longer than 255 bytes")
	}
	port := u.Port()
	if port == "" {
		port = "69"
	}
	raddr, err := net.ResolveUDPAddr("udp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, 0, err
	}
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return nil, 0, err
	}
	t := &tftpConn{ctx: ctx, conn: conn, idle: c.idleTimeout(), blksize: 512, pkt: make([]byte, 4+65464)}
	var rrq bytes.Buffer
	binary.Write(&rrq, binary.BigEndian, uint16(opRRQ))
	for _, s := range []string{file, "octet", "blksize", strconv.Itoa(blksize), "tsize", "0"} {
		rrq.WriteString(s)
		rrq.WriteByte(0)
	}
	t.last = rrq.Bytes()
	// An ended context interrupts a wait at once.
	t.stop = context.AfterFunc(ctx, func() { conn.SetReadDeadline(time.Now()) })
	size, err := t.start(raddr, limit)
	if err != nil {
		t.stop()
		conn.Close()
		return nil, 0, err
	}
	return t, size, nil
}

// start sends the request and reads the server's first answer: an OACK
// (the options it took) or the first block.
func (t *tftpConn) start(raddr *net.UDPAddr, limit int64) (int64, error) {
	p, from, err := t.exchange(raddr)
	if err != nil {
		return 0, err
	}
	t.server = from
	size := int64(-1)
	switch binary.BigEndian.Uint16(p) {
	case opOACK:
		opts := bytes.Split(p[2:], []byte{0})
		for i := 0; i+1 < len(opts); i += 2 {
			v, err := strconv.ParseInt(string(opts[i+1]), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("tftp: the server's option %s=%q is not a number", opts[i], opts[i+1])
			}
			switch strings.ToLower(string(opts[i])) {
			case "blksize":
				if v < 8 || v > blksize {
					return 0, fmt.Errorf("tftp: the server chose blksize %d, not between 8 and %d", v, blksize)
				}
				t.blksize = int(v)
			case "tsize":
				size = v
			}
		}
		if size > limit {
			t.abort("file too large")
			return 0, fmt.Errorf("%w: the server says %d bytes, the limit is %s", ErrTooLarge, size, Size(limit))
		}
		t.last = ack(0)
	case opDATA:
		if b := binary.BigEndian.Uint16(p[2:]); b != 1 {
			return 0, fmt.Errorf("tftp: the server began with block %d", b)
		}
		if err := t.data(p); err != nil {
			return 0, err
		}
	}
	return size, nil
}

func ack(block uint16) []byte {
	b := make([]byte, 4)
	binary.BigEndian.PutUint16(b, opACK)
	binary.BigEndian.PutUint16(b[2:], block)
	return b
}

// exchange sends t.last and waits for a DATA, OACK or ERROR from the
// server (from any port when to is the request's address), resending
// with backoff until IdleTimeout passes without an answer.
func (t *tftpConn) exchange(to *net.UDPAddr) ([]byte, *net.UDPAddr, error) {
	deadline := time.Now().Add(t.idle)
	wait := time.Second
	for {
		if err := t.ctx.Err(); err != nil {
			return nil, nil, err
		}
		if _, err := t.conn.WriteToUDP(t.last, to); err != nil {
			return nil, nil, err
		}
		until := time.Now().Add(wait)
		if until.After(deadline) {
			until = deadline
		}
		for {
			t.conn.SetReadDeadline(until)
			if err := t.ctx.Err(); err != nil {
				// Ended between the context's interrupt and the line
				// above, which undid it.
				return nil, nil, err
			}
			n, from, err := t.conn.ReadFromUDP(t.pkt)
			if err != nil {
				if err := t.ctx.Err(); err != nil {
					return nil, nil, err
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return nil, nil, err
			}
			if t.server != nil && (!from.IP.Equal(t.server.IP) || from.Port != t.server.Port) ||
				t.server == nil && !from.IP.Equal(to.IP) {
				continue // another transfer's, or a stranger's
			}
			p := t.pkt[:n]
			if n < 4 {
				continue
			}
			switch binary.BigEndian.Uint16(p) {
			case opERROR:
				msg := string(bytes.TrimRight(p[4:], "\x00"))
				return nil, nil, &TFTPError{Code: binary.BigEndian.Uint16(p[2:]), Msg: msg}
			case opDATA:
				if t.server != nil && binary.BigEndian.Uint16(p[2:]) != t.block+1 {
					continue // a duplicate of a block we have
				}
				return p, from, nil
			case opOACK:
				if t.server == nil {
					return p, from, nil
				}
			}
		}
		if !time.Now().Before(deadline) {
			return nil, nil, fmt.Errorf("%w: nothing received for %s", ErrStalled, t.idle)
		}
		if wait < 4*time.Second {
			wait *= 2
		}
	}
}

// data takes one DATA packet (already checked to be the next block).
func (t *tftpConn) data(p []byte) error {
	payload := p[4:]
	if len(payload) > t.blksize {
		return fmt.Errorf("tftp: block %d is %d bytes, more than the block size %d", t.block+1, len(payload), t.blksize)
	}
	t.block++
	t.buf.Write(payload)
	t.last = ack(t.block)
	if len(payload) < t.blksize {
		t.done = true
		// The final ACK, sent once: if it is lost the server resends
		// and gives up, as RFC 1350 allows.
		t.conn.WriteToUDP(t.last, t.server)
	}
	return nil
}

func (t *tftpConn) Read(p []byte) (int, error) {
	for t.buf.Len() == 0 {
		if t.done {
			return 0, io.EOF
		}
		pkt, _, err := t.exchange(t.server)
		if err != nil {
			return 0, err
		}
		if err := t.data(pkt); err != nil {
			return 0, err
		}
	}
	return t.buf.Read(p)
}

// abort tells the server to stop.
func (t *tftpConn) abort(msg string) {
	if t.server == nil {
		return
	}
	b := []byte{0, opERROR, 0, 0}
	b = append(append(b, msg...), 0)
	t.conn.WriteToUDP(b, t.server)
}

func (t *tftpConn) Close() error {
	t.stop()
	if !t.done {
		t.abort("transfer abandoned")
	}
	return t.conn.Close()
}
