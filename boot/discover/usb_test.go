package discover

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// A sysfs as the kernel lays it out while a USB stick and a keyboard are
// probed: the stick's interface (class 08) before and after its SCSI disk
// appears; the keyboard (class 03) is never waited for.
func TestUSBStoragePending(t *testing.T) {
	sys := t.TempDir()
	mk := func(p string) string {
		d := filepath.Join(sys, p)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	iface := func(bus, name, class string) string {
		dev := mk("devices/pci0000:00/0000:00:04.0/" + bus + "/" + name)
		os.WriteFile(filepath.Join(dev, "bInterfaceClass"), []byte(class+"\n"), 0o444)
		mk("bus/usb/devices")
		if err := os.Symlink(dev, filepath.Join(sys, "bus/usb/devices", name)); err != nil {
			t.Fatal(err)
		}
		return dev
	}
	iface("usb2/2-1", "2-1:1.0", "08")
	iface("usb2/2-2", "2-2:1.0", "03")
	if got := USBStoragePending(sys); !slices.Equal(got, []string{"2-1:1.0"}) {
		t.Errorf("before the disk: pending %q, want the stick", got)
	}
	mk(filepath.Join("devices/pci0000:00/0000:00:04.0/usb2/2-1/2-1:1.0/host0/target0:0:0/0:0:0:0/block/sda"))
	if got := USBStoragePending(sys); len(got) != 0 {
		t.Errorf("with its disk: pending %q, want none", got)
	}
	if got := USBStoragePending(filepath.Join(sys, "absent")); len(got) != 0 {
		t.Errorf("no sysfs: pending %q", got)
	}
}

// USB settles when no device has appeared for USBQuiet and every stick
// has its disk; a machine without USB never waits.
func TestUSBSettle(t *testing.T) {
	sys := t.TempDir()
	u := &USBSettle{Sys: sys}
	t0 := time.Unix(1000, 0)
	if why := u.Pending(t0); why != "" {
		t.Errorf("no USB: pending %q", why)
	}
	os.MkdirAll(filepath.Join(sys, "bus/usb/devices/usb1"), 0o755)
	for _, c := range []struct {
		at      time.Duration
		add     string
		pending bool
	}{
		{0, "", true}, // the root hub, first seen
		{500 * time.Millisecond, "", true},
		{1100 * time.Millisecond, "1-1", true}, // a device enumerates late
		{2000 * time.Millisecond, "", true},
		{2100 * time.Millisecond, "", false},
	} {
		if c.add != "" {
			os.MkdirAll(filepath.Join(sys, "bus/usb/devices", c.add), 0o755)
		}
		why := u.Pending(t0.Add(c.at))
		if (why != "") != c.pending {
			t.Errorf("at %s: pending %q, want pending=%v", c.at, why, c.pending)
		}
	}
}
