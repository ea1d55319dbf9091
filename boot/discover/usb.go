package discover

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// USBStoragePending lists the USB mass-storage interfaces (class 08) under
// sys (/sys) that have no disk yet: the kernel enumerates USB and scans
// its SCSI hosts after the disk controllers' disks are there (usb-storage
// waits delay_use, 1 s, before its scan), so a menu built at once would
// miss the stick a BMC presents. A reader with no medium still has its
// disk (of size 0); a device that never gets one holds the wait only to
// the -wait deadline.
func USBStoragePending(sys string) []string {
	ifaces, _ := filepath.Glob(filepath.Join(sys, "bus/usb/devices/*:*"))
	var pending []string
	for _, i := range ifaces {
		class, err := os.ReadFile(filepath.Join(i, "bInterfaceClass"))
		if err != nil || strings.TrimSpace(string(class)) != "08" {
			continue
		}
		dir, err := filepath.EvalSymlinks(i)
		if err != nil || !hasBlock(dir, 6) {
			pending = append(pending, filepath.Base(i))
		}
	}
	return pending
}

// hasBlock says whether a "block" directory lies within depth levels
// below dir (host0/target0:0:0/0:0:0:0/block/sda), not following links.
func hasBlock(dir string, depth int) bool {
	found := false
	root := strings.Count(dir, string(filepath.Separator))
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || found {
			return filepath.SkipDir
		}
		if !d.IsDir() {
			return nil
		}
		if d.Name() == "block" && p != dir {
			found = true
			return filepath.SkipAll
		}
		if strings.Count(p, string(filepath.Separator))-root >= depth {
			return filepath.SkipDir
		}
		return nil
	})
	return found
}

// USBQuiet is how long USB must go without a new device before the
// bootloader stops waiting for one: the kernel enumerates a controller's
// ports one after another after the controller's probe, and sysfs says
// nothing of a port whose device is still being reset.
const USBQuiet = time.Second

// USBSettle tracks USB enumeration across the discovery passes.
type USBSettle struct {
	Sys     string // sysfs, "/sys"
	seen    map[string]bool
	changed time.Time
}

// Pending says what the bootloader is still waiting for on USB at now:
// a new device within USBQuiet (with host controllers present, the first
// pass counts as new), or a mass-storage interface with no disk yet. ""
// when USB has settled or the machine has no USB.
func (u *USBSettle) Pending(now time.Time) string {
	devs, _ := filepath.Glob(filepath.Join(u.Sys, "bus/usb/devices/*"))
	if len(devs) == 0 {
		return ""
	}
	if u.seen == nil {
		u.seen = map[string]bool{}
	}
	for _, d := range devs {
		if n := filepath.Base(d); !u.seen[n] {
			u.seen[n] = true
			u.changed = now
		}
	}
	if now.Sub(u.changed) < USBQuiet {
		return fmt.Sprintf("USB devices appeared in the last %s", USBQuiet)
	}
	if p := USBStoragePending(u.Sys); len(p) > 0 {
		return "USB storage " + strings.Join(p, ", ") + " has no disk yet"
	}
	return ""
}
