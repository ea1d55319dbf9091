package clog

import (
	"reflect"
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
	if len(r) != 4 {
		t.Fatalf("%d records, want 4 (three of %d bytes, the rest)", len(r), maxMessage)
	}
	for _, rec := range r {
		if len(rec) > maxRecord {
			t.Errorf("record of %d bytes: over the limit %d", len(rec), maxRecord)
		}
	}
}
