package watchdog

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestNoDevice(t *testing.T) {
	root := t.TempDir()
	if _, err := Arm(root, time.Minute); !errors.Is(err, ErrNone) {
		t.Errorf("Arm without a device: %v, want ErrNone", err)
	}
	if err := Disarm(root); !errors.Is(err, ErrNone) {
		t.Errorf("Disarm without a device: %v, want ErrNone", err)
	}
}

// A device that is not a watchdog (no ioctls) is stopped again and named.
func TestNotAWatchdog(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	os.WriteFile(filepath.Join(root, Device), nil, 0o644)
	if _, err := Arm(root, time.Minute); err == nil || !strings.Contains(err.Error(), "/dev/watchdog") {
		t.Errorf("Arm on a plain file: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, Device)); string(b) != "V" {
		t.Errorf("the magic close was not written: %q", b)
	}
}

func TestKexecKeeps(t *testing.T) {
	root := t.TempDir()
	if got := KexecKeeps(root); !strings.Contains(got, "driver decides") {
		t.Errorf("no parameter: %q", got)
	}
	p := filepath.Join(root, StopOnReboot)
	os.MkdirAll(filepath.Dir(p), 0o755)
	for v, want := range map[string]string{"0\n": "leaves it running", "1\n": "STOPS", "-1\n": "stop_on_reboot=-1"} {
		os.WriteFile(p, []byte(v), 0o644)
		if got := KexecKeeps(root); !strings.Contains(got, want) {
			t.Errorf("stop_on_reboot=%q: %q, want %q", v, got, want)
		}
	}
}
