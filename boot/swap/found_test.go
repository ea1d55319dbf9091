package swap

import (
	"encoding/binary"
	"os"
	"path/filepath"
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
	for i := range 16 {
		b[1024+0x68+i] = uuid
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
