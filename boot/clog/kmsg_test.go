package clog

import (
	"reflect"
	"strings"
	"testing"
)

// records collects each Write as one kernel log record.
type records []string

func (r *records) Write(p []byte) (int, error) { *r = append(*r, string(p)); return len(p), nil }

func TestKmsgRecords(t *testing.T) {
	var r records
	k := NewKmsg(&r, "warmswap", 42)
	l := New(k, "warmswap")
	l.Info("check ok: root")
	l.Warn("no watchdog")
	k.Write([]byte("warmswap: refused: the target is unsigned\nwarmswap: nothing was "))
	k.Write([]byte("stopped\n\n"))
	want := records{
		"<14>warmswap[42]: check ok: root",
		"<12>warmswap[42]: warning: no watchdog",
		"<11>warmswap[42]: refused: the target is unsigned",
		"<14>warmswap[42]: nothing was stopped",
	}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("records:\n%q\nwant\n%q", r, want)
	}
}

func TestKmsgLongLine(t *testing.T) {
	var r records
	k := NewKmsg(&r, "x", 1)
	long := make([]byte, 3000)
	for i := range long {
		long[i] = 'a'
	}
	k.Write(long)
	k.Write([]byte("\n"))
	// The same line written whole: split the same way, nothing cut off.
	k.Write(append(append([]byte("error: "), long...), '\n'))
	if len(r) != 8 {
		t.Fatalf("%d records, want 8 (for each line, three of %d bytes and the rest)", len(r), maxMessage)
	}
	total := 0
	for _, rec := range r[4:] {
		if len(rec) > maxRecord {
			t.Errorf("record of %d bytes: over the limit %d", len(rec), maxRecord)
		}
		if !strings.HasPrefix(rec, "<11>x[1]: ") {
			t.Errorf("record %.20q: want the line's priority (err) on every part", rec)
		}
		total += len(rec) - len("<11>x[1]: ")
	}
	if want := len("error: ") + len(long); total != want {
		t.Errorf("a whole line of %d bytes went out as %d bytes", want, total)
	}
	for _, rec := range r[:4] {
		if len(rec) > maxRecord {
			t.Errorf("record of %d bytes: over the limit %d", len(rec), maxRecord)
		}
	}
}
