package clog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
)

// KmsgDevice is the kernel log's writing end.
const KmsgDevice = "/dev/kmsg"

// Kmsg writes each line it is given to the kernel log as one record,
// "<PRI>ident[pid]: message", so that a command's messages reach the
// journal (journald reads the kernel log and takes the identifier and pid
// from a record of the user facility as syslog(3) writes them: "journalctl
// -t warmswap") and, after the journal has stopped, the console. A
// leading "ident: " in the line is dropped (clog's prefix). The priority
// follows clog's words: "error:" and "refused:" are err, "warning:" is
// warning, the rest info.
//
// Writes never fail: the kernel log is a second copy, and a command must
// not stop because it is missing or full.
type Kmsg struct {
	mu    sync.Mutex
	w     io.Writer
	ident string
	pid   int
	part  []byte
}

// NewKmsg writes records for ident (and pid) to w.
func NewKmsg(w io.Writer, ident string, pid int) *Kmsg {
	return &Kmsg{w: w, ident: ident, pid: pid}
}

// OpenKmsg is NewKmsg on /dev/kmsg, or io.Discard where it cannot be
// opened (not root, no such device).
func OpenKmsg(ident string) io.Writer {
	f, err := os.OpenFile(KmsgDevice, os.O_WRONLY, 0)
	if err != nil {
		return io.Discard
	}
	return NewKmsg(f, ident, os.Getpid())
}

// maxRecord keeps a record under the kernel's line limit (1024 bytes with
// its own header); a longer line goes as several records of maxMessage.
const (
	maxRecord  = 976
	maxMessage = 900
)

// Syslog priorities of the user facility (syslog(3): facility 1).
const (
	priErr     = 8 + 3
	priWarning = 8 + 4
	priInfo    = 8 + 6
)

// Write implements io.Writer.
func (k *Kmsg) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.part = append(k.part, p...)
	for {
		i := bytes.IndexByte(k.part, '\n')
		if i < 0 {
			break
		}
		k.record(string(k.part[:i]))
		k.part = k.part[i+1:]
	}
	// An unfinished line is held only up to one record.
	for len(k.part) > maxMessage {
		k.record(string(k.part[:maxMessage]))
		k.part = k.part[maxMessage:]
	}
	return len(p), nil
}

// record writes line as records of at most maxMessage bytes of message,
// each with the line's priority.
func (k *Kmsg) record(line string) {
	msg := strings.TrimPrefix(line, k.ident+": ")
	if strings.TrimSpace(msg) == "" {
		return
	}
	pri := priInfo
	switch {
	case strings.HasPrefix(msg, "error:"), strings.HasPrefix(msg, "refused:"):
		pri = priErr
	case strings.HasPrefix(msg, "warning:"):
		pri = priWarning
	}
	for len(msg) > 0 {
		n := min(len(msg), maxMessage)
		rec := fmt.Sprintf("<%d>%s[%d]: %s", pri, k.ident, k.pid, msg[:n])
		if len(rec) > maxRecord {
			rec = rec[:maxRecord]
		}
		k.w.Write([]byte(rec))
		msg = msg[n:]
	}
}
