package fetch

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tftpServer is a TFTP server for the tests: files by name; "stall"
// stops after one block, "endless" never ends, and noOptions makes it
// an RFC 1350 server that ignores options.
type tftpServer struct {
	files     map[string][]byte
	noOptions bool
	conn      *net.UDPConn
	acked     chan string // "file:block" of each final ACK, ERROR as "file:error"
}

func startTFTP(t *testing.T, s *tftpServer) string {
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	s.conn = conn
	s.acked = make(chan string, 16)
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				return
			}
			p := append([]byte(nil), buf[:n]...)
			go s.transfer(p, from)
		}
	}()
	return "tftp://" + conn.LocalAddr().String()
}

func (s *tftpServer) transfer(req []byte, client *net.UDPAddr) {
	f := strings.Split(string(req[2:]), "\x00")
	name := f[0]
	c, err := net.DialUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, client)
	if err != nil {
		return
	}
	defer c.Close()
	data, ok := s.files[name]
	if !ok && name != "stall" && name != "endless" {
		c.Write(append([]byte{0, opERROR, 0, 1}, "File not found\x00"...))
		return
	}
	bs := 512
	send := func(p []byte) (uint16, error) {
		buf := make([]byte, 100)
		for try := 0; try < 5; try++ {
			c.Write(p)
			c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
			n, err := c.Read(buf)
			if err != nil {
				continue
			}
			switch binary.BigEndian.Uint16(buf) {
			case opACK:
				return binary.BigEndian.Uint16(buf[2:]), nil
			case opERROR:
				return 0, errors.New("client error")
			}
			_ = n
		}
		return 0, errors.New("timeout")
	}
	if !s.noOptions && len(f) > 4 {
		bs, _ = strconv.Atoi(f[3])
		oack := []byte{0, opOACK}
		oack = append(oack, fmt.Sprintf("blksize\x00%d\x00tsize\x00%d\x00", bs, len(data))...)
		if _, err := send(oack); err != nil {
			s.acked <- name + ":error"
			return
		}
	}
	for block := 1; ; block++ {
		var chunk []byte
		switch name {
		case "endless":
			chunk = make([]byte, bs)
		case "stall":
			if block > 1 {
				time.Sleep(time.Hour)
			}
			chunk = make([]byte, bs)
		default:
			off := (block - 1) * bs
			end := min(off+bs, len(data))
			chunk = data[off:end]
		}
		p := binary.BigEndian.AppendUint16([]byte{0, opDATA}, uint16(block))
		if _, err := send(append(p, chunk...)); err != nil {
			s.acked <- name + ":error"
			return
		}
		if len(chunk) < bs {
			s.acked <- fmt.Sprintf("%s:%d", name, block)
			return
		}
	}
}

func TestTFTP(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 100000) // 1.6 MB, 1137 blocks
	exact := make([]byte, 2*blksize)                        // ends with an empty block
	for _, noOpt := range []bool{false, true} {
		t.Run(fmt.Sprintf("options=%v", !noOpt), func(t *testing.T) {
			s := &tftpServer{files: map[string][]byte{"pxelinux.cfg/default": []byte("DEFAULT x\n"), "vmlinuz": big, "exact": exact}, noOptions: noOpt}
			base := startTFTP(t, s)
			c := &Client{IdleTimeout: 2 * time.Second}
			for name, want := range s.files {
				got, err := fetchAll(c, parse(t, base+"/"+name), 8<<20)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %d bytes, %v; want %d", name, len(got), err, len(want))
				}
			}
			_, err := fetchAll(c, parse(t, base+"/missing"), 1<<20)
			if err == nil || !strings.Contains(err.Error(), `the server says "File not found"`) || !strings.Contains(err.Error(), base+"/missing") {
				t.Errorf("missing: %v", err)
			}
		})
	}
}

func TestTFTPHostile(t *testing.T) {
	s := &tftpServer{files: map[string][]byte{}}
	base := startTFTP(t, s)
	c := &Client{IdleTimeout: 1500 * time.Millisecond}
	for _, tc := range []struct {
		name string
		want error
	}{{"stall", ErrStalled}, {"endless", ErrTooLarge}} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := fetchAll(c, parse(t, base+"/"+tc.name), 1<<20)
			if !errors.Is(err, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
			}
			t.Logf("%s: %v after %s", tc.name, err, time.Since(start).Round(time.Millisecond))
		})
	}
	// The endless transfer was abandoned, and the server told so.
	select {
	case got := <-s.acked:
		if got != "endless:error" {
			t.Errorf("server saw %s, want the endless transfer ended by the client", got)
		}
	case <-time.After(5 * time.Second):
		t.Errorf("the server was not told the transfer ended")
	}
	// A context that ends stops a transfer at once.
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	slow := &Client{IdleTimeout: time.Minute}
	r, _, err := slow.Open(ctx, parse(t, base+"/stall"), 1<<20)
	if err == nil {
		start := time.Now()
		_, err = bytes.NewBuffer(nil).ReadFrom(r)
		r.Close()
		if d := time.Since(start); d > 10*time.Second {
			t.Errorf("cancel took %s", d)
		}
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("after the context ended: %v", err)
	}
}
