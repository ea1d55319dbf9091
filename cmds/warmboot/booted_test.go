package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// "warmboot booted" tells the journal how the system was booted, from the
// record the initramfs hook copied to /run/warmboot: the source as a
// value (version 2) or, from a bootloader before that, a string.
func TestBooted(t *testing.T) {
	var stdout, stderr bytes.Buffer
	for _, v := range []struct{ version, source string }{
		{"2", `{"device": "vda1", "file": "/boot/grub/grub.cfg", "line": 40}`},
		{"1", `"vda1:/boot/grub/grub.cfg:40"`},
	} {
		root := t.TempDir()
		os.MkdirAll(filepath.Join(root, "run/warmboot"), 0o755)
		os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version": `+v.version+`, "entry": "gnulinux-6.1", "label": "Debian GNU/Linux",
		"source": `+v.source+`, "by": "warmboot", "trust": "policy=enforce signed",
		"handoff": {"version": 1, "entry": "gnulinux-6.1", "reason": "kernel update", "time": "2026-11-30T09:00:00Z", "from": "host 6.1.0-56"},
		"timeline": {"phases": [{"name": "modules", "ms": 350}, {"name": "load", "ms": 1250}]}}`), 0o644)
		stdout.Reset()
		if code := run(context.Background(), []string{"booted", "-root", root}, &stdout, &stderr); code != 0 {
			t.Fatalf("version %s: booted = exit %d: %s", v.version, code, stderr.String())
		}
		for _, want := range []string{
			`warmboot: booted "Debian GNU/Linux" (gnulinux-6.1) from vda1:/boot/grub/grub.cfg:40, by warmboot`,
			`warmboot: asked for by host 6.1.0-56 at 2026-11-30T09:00:00Z: entry "gnulinux-6.1" (reason: kernel update)`,
			"warmboot: verification: policy=enforce signed",
			"warmboot: timeline: modules=0.35s load=1.25s (1.60s before the load and kexec)",
		} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("version %s: output lacks %q:\n%s", v.version, want, stdout.String())
			}
		}
	}
	stderr.Reset()
	if code := run(context.Background(), []string{"booted", "-root", t.TempDir()}, &stdout, &stderr); code != 1 || !strings.Contains(stderr.String(), "not booted by warmboot") {
		t.Errorf("booted without a record = exit %d, %q", code, stderr.String())
	}
}
