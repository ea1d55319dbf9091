package loader

import (
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/lvm"
	"github.com/warmboot/warmboot/boot/raid"
)

// fakeRAID is an md array "md0" of members vdb and vdc, assembled once
// both have appeared; Pending until then.
type fakeRAID struct {
	bt        *bootTest
	assembled bool
	finals    []bool
}

func (r *fakeRAID) Assemble(devs []string, final bool) []raid.Array {
	r.finals = append(r.finals, final)
	if r.assembled || !slices.Contains(devs, "vdb") || !slices.Contains(devs, "vdc") {
		return nil
	}
	r.assembled = true
	r.bt.dirs["md0"] = r.bt.dirs["vdb"]
	return []raid.Array{{Name: "md0", Level: 1, Members: []raid.Member{{Device: "vdb"}, {Device: "vdc"}}}}
}
func (r *fakeRAID) Member(d string) bool { return d == "vdb" || d == "vdc" }
func (r *fakeRAID) Pending() bool        { return !r.assembled }

// The loop waits for disks that appear late, mounts each device once
// across passes, reads members through their array only, and stops
// waiting once there are entries and nothing is pending.
func TestDiscoverWaits(t *testing.T) {
	t.Run("a disk that appears late", func(t *testing.T) {
		bt := newBootTest(t)
		root := bt.dirs["vda1"]
		bt.dirs = map[string]string{}
		bt.then = map[int]func(){3: func() { bt.dirs["vda1"] = root }}
		m, _ := bt.discover()
		if len(m.Entries) != 2 || bt.slept != 3 {
			t.Fatalf("discover = %d entries after %d sleeps; want 2 after 3", len(m.Entries), bt.slept)
		}
		if !slices.Equal(bt.mounted, []string{"vda1"}) {
			t.Errorf("mounted %v; want vda1 once", bt.mounted)
		}
	})
	t.Run("an md array missing a member", func(t *testing.T) {
		bt := newBootTest(t)
		other := t.TempDir()
		bt.dirs["vdb"] = other
		r := &fakeRAID{bt: bt}
		bt.Loader.disks.RAID = r
		bt.then = map[int]func(){2: func() { bt.dirs["vdc"] = other }}
		m, probes := bt.discover()
		// vda1's entries were there at once; the loop still waited for
		// the array, then mounted it and not its members.
		if len(m.Entries) != 2 || bt.slept != 2 || !r.assembled {
			t.Fatalf("discover = %d entries after %d sleeps (assembled %v); want 2 after 2, assembled", len(m.Entries), bt.slept, r.assembled)
		}
		if !slices.Equal(bt.mounted, []string{"vda1", "md0"}) {
			t.Errorf("mounted %v; want vda1, then md0 (never its members)", bt.mounted)
		}
		if !slices.ContainsFunc(probes, func(p discover.Probe) bool { return p.Device == "vdb" && strings.HasPrefix(p.Result, "member of md0") }) {
			t.Errorf("probes %+v lack vdb as a member of md0", probes)
		}
		bt.said(t, "warmboot: assembled md0")
	})
	t.Run("LVM volumes", func(t *testing.T) {
		bt := newBootTest(t)
		bt.Loader.disks.LVM = func(devs []string) []lvm.Result {
			if !slices.Contains(devs, "vda1") {
				return nil
			}
			return []lvm.Result{{Volume: lvm.Volume{VG: "vg0"}, PVs: []string{"vda1"}}}
		}
		_, probes := bt.discover()
		if !slices.ContainsFunc(probes, func(p discover.Probe) bool { return p.Device == "vda1" && p.Result == "LVM physical volume of vg0" }) {
			t.Errorf("probes %+v lack vda1 as a PV of vg0", probes)
		}
	})
	t.Run("USB storage still probed", func(t *testing.T) {
		bt := newBootTest(t)
		bt.Loader.disks.USB = func(time.Time) string { return "USB storage 1-1 still being probed" }
		m, _ := bt.discover()
		// Entries were found at once, but the stick may hold the
		// configs: the loop waits the whole wait, then says so.
		if len(m.Entries) != 2 || bt.slept != 26 {
			t.Errorf("discover = %d entries after %d sleeps; want 2 after 26 (5 s in 200 ms steps, then the last look)", len(m.Entries), bt.slept)
		}
		bt.said(t, "warmboot: USB storage 1-1 still being probed after 5s: not waiting longer (warmboot.wait= waits longer)")
	})
	t.Run("nothing by the deadline", func(t *testing.T) {
		bt := newBootTest(t)
		bt.dirs = map[string]string{"vda2": t.TempDir()}
		m, probes := bt.discover()
		if len(m.Entries) != 0 || bt.slept != 26 || len(probes) != 1 {
			t.Errorf("discover = %d entries, %d probes after %d sleeps; want none, vda2's, after 26", len(m.Entries), len(probes), bt.slept)
		}
	})
}

// Writes go to the disk discovery mounted, through Disks.Write; an
// unknown device is an error, not a write elsewhere.
func TestWrite(t *testing.T) {
	bt := newBootTest(t)
	bt.discover()
	if err := bt.write("vda1", func(r *os.Root) error { return r.WriteFile("x", []byte("y"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(bt.root + "/x"); string(b) != "y" {
		t.Errorf("the write did not reach vda1's directory: %q", b)
	}
	if err := bt.write("vdz", func(*os.Root) error { return nil }); err == nil || !strings.Contains(err.Error(), "vdz is not mounted") {
		t.Errorf("write to an unmounted device = %v", err)
	}
}
