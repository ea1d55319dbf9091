package clog

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	var buf bytes.Buffer
	l := New(&buf, "warmboot")
	l.Info("starting")
	l.Warn("kexec_file_load refused the kernel; falling back to kexec_load", "kernel", "/vmlinuz", "err", errors.New("exec format error"))
	l.Error("kexec failed", "n", 3)
	l.Debug("not shown")
	l.With("device", "vda1").WithGroup("fs").Info("mounted", "type", "ext4", "wait", 1500*time.Millisecond, "label", `a "b"`, "empty", "")
	l.Info("grouped", slog.Group("g", "a", 1))
	want := `warmboot: starting
warmboot: warning: kexec_file_load refused the kernel; falling back to kexec_load kernel=/vmlinuz err="exec format error"
warmboot: error: kexec failed n=3
warmboot: mounted device=vda1 fs.type=ext4 fs.wait=1.5s fs.label="a \"b\"" fs.empty=""
warmboot: grouped g.a=1
`
	if got := buf.String(); got != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}
	buf.Reset()
	New(&buf, "x", WithLevel(slog.LevelDebug)).Debug("shown")
	if got := buf.String(); got != "x: shown\n" {
		t.Errorf("debug output = %q, want %q", got, "x: shown\n")
	}
}

func TestOr(t *testing.T) {
	Or(nil).Warn("discarded") // must not panic
	l := New(&bytes.Buffer{}, "x")
	if Or(l) != l {
		t.Error("Or(l) != l")
	}
}
