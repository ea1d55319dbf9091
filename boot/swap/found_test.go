package swap

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/swap/swaptest"
)

// extDevice writes an ext4 superblock with uuid (16 bytes) at dev.
func extDevice(t *testing.T, dev string, uuid byte) {
	t.Helper()
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint16(b[1024+0x38:], 0xEF53)
	writeDevice(t, dev, b, 1024+0x68, uuid)
}

// btrfsDevice writes a btrfs superblock with fsid uuid at dev.
func btrfsDevice(t *testing.T, dev string, uuid byte) {
	t.Helper()
	b := make([]byte, 0x11000)
	copy(b[0x10040:], "_BHRfS_M")
	writeDevice(t, dev, b, 0x10020, uuid)
}

// writeDevice writes b, its 16-byte UUID at off filled with uuid, at dev.
func writeDevice(t *testing.T, dev string, b []byte, off int, uuid byte) {
	t.Helper()
	for i := range 16 {
		b[off+i] = uuid
	}
	os.MkdirAll(filepath.Dir(dev), 0o755)
	if err := os.WriteFile(dev, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Through the bootloader, the handoff says where the entry was found:
// the root filesystem (configs, files and state) by UUID, what the
// entry boots as the state knows it, and the menu's ids.
func TestPreflightFound(t *testing.T) {
	root := system(t, "")
	extDevice(t, filepath.Join(root, "dev/vda2"), 0x11)
	p, err := Preflight(env(root), Request{Entry: "a", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer done(p)
	r, err := handoff.ParseRecord(segment(t, p.Image)[".warmboot/handoff.json"])
	if err != nil {
		t.Fatal(err)
	}
	want := &handoff.Found{Volumes: []string{"11111111-1111-1111-1111-111111111111"},
		Boots: swaptest.Ref(t, root, "a").Boots, Entries: handoff.MenuIDs([]string{"b", "a"})}
	if diff := gocmp.Diff(want, r.Found); diff != "" {
		t.Errorf("found (-want +got):\n%s", diff)
	}

	// A filesystem whose UUID warmboot cannot read: no fast path.
	root = system(t, "")
	p, err = Preflight(env(root), Request{Entry: "a", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer done(p)
	if p.Record.Found != nil {
		t.Errorf("found = %+v with no superblock to read", p.Record.Found)
	}
}

// Others are only filesystems the running system mounts whole: here it
// mounts the @home subvolume of another system's btrfs (a dual boot
// sharing /home), which the bootloader mounts as its default subvolume
// (the other system's /, with its /boot): not vouched for. A filesystem
// on USB storage is listed for the bootloader to wait for, mounted or
// not.
func TestFoundOthersWhole(t *testing.T) {
	root := system(t, "")
	extDevice(t, filepath.Join(root, "dev/vda2"), 0x11)
	btrfsDevice(t, filepath.Join(root, "dev/vdb2"), 0x22)
	mi := "22 1 254:2 / / rw,relatime - ext4 /dev/vda2 rw\n23 22 0:5 / /proc rw - proc proc rw\n" +
		"24 22 0:40 /@home /home rw,relatime - btrfs /dev/vdb2 rw,subvol=/@home\n"
	if err := os.WriteFile(filepath.Join(root, "proc/self/mountinfo"), []byte(mi), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "home/user"), 0o755)
	// A USB stick, not mounted; and the disks, not on USB.
	extDevice(t, filepath.Join(root, "dev/sdb1"), 0x33)
	os.MkdirAll(filepath.Join(root, "sys/class/block"), 0o755)
	for name, target := range map[string]string{
		"sdb1": "../../devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host2/target2:0:0/2:0:0:0/block/sdb/sdb1",
		"vda2": "../../devices/pci0000:00/0000:00:03.0/virtio1/block/vda/vda2",
	} {
		if err := os.Symlink(target, filepath.Join(root, "sys/class/block", name)); err != nil {
			t.Fatal(err)
		}
	}
	p, err := Preflight(env(root), Request{Entry: "a", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	defer done(p)
	r, err := handoff.ParseRecord(segment(t, p.Image)[".warmboot/handoff.json"])
	if err != nil || r.Found == nil {
		t.Fatalf("found = %+v, %v", r.Found, err)
	}
	if other := "22222222-2222-2222-2222-222222222222"; slices.Contains(r.Found.Others, other) {
		t.Errorf("others = %v: %s is mounted here only as its subvolume /@home, yet the bootloader is told it holds no configs", r.Found.Others, other)
	}
	if want := []string{"33333333-3333-3333-3333-333333333333"}; !slices.Equal(r.Found.USB, want) {
		t.Errorf("usb = %v, want %v", r.Found.USB, want)
	}
}
