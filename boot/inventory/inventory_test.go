package inventory

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// machine writes a fake sysfs: a NIC (e1000e, carrier), a keyboard, an
// NVMe disk with a partition, lo, and a PCI function nothing drives.
type machine struct {
	root string
	t    *testing.T
}

func newMachine(t *testing.T) machine {
	m := machine{root: t.TempDir(), t: t}
	m.pci("0000:00:1f.6", "0x8086", "0x15b8", "0x020000", "e1000e")
	m.pci("0000:01:00.0", "0x144d", "0xa808", "0x010802", "nvme")
	m.pci("0000:00:1f.4", "0x8086", "0xa323", "0x0c0500", "")
	m.net("eth0", "52:54:00:12:34:56", "e1000e", "1", true)
	m.net("lo", "00:00:00:00:00:00", "", "1", false)
	m.file("sys/class/block/nvme0n1/size", "1000215216")
	m.file("sys/class/block/nvme0n1p1/size", "1048576")
	m.file("sys/class/block/nvme0n1p1/partition", "1")
	m.file("sys/class/block/loop0/size", "0")
	m.file("sys/class/input/input0/name", "AT Translated Set 2 keyboard")
	m.file("sys/class/input/input0/phys", "isa0060/serio0/input0")
	m.file("sys/class/input/event0/dev", "13:64")
	return m
}

func (m machine) file(p, data string) {
	p = filepath.Join(m.root, p)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		m.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data+"\n"), 0o644); err != nil {
		m.t.Fatal(err)
	}
}

func (m machine) pci(addr, vendor, device, class, driver string) {
	d := "sys/bus/pci/devices/" + addr
	m.file(d+"/vendor", vendor)
	m.file(d+"/device", device)
	m.file(d+"/class", class)
	m.bind(addr, driver)
}

func (m machine) bind(addr, driver string) {
	l := filepath.Join(m.root, "sys/bus/pci/devices", addr, "driver")
	os.Remove(l)
	if driver != "" {
		if err := os.Symlink("../../../bus/pci/drivers/"+driver, l); err != nil {
			m.t.Fatal(err)
		}
	}
}

func (m machine) net(name, mac, driver, carrier string, device bool) {
	d := "sys/class/net/" + name
	m.file(d+"/address", mac)
	m.file(d+"/carrier", carrier)
	if device {
		dev := filepath.Join(m.root, d, "device")
		os.MkdirAll(dev, 0o755)
		os.Symlink("../../../bus/pci/drivers/"+driver, filepath.Join(dev, "driver"))
	}
}

func TestTake(t *testing.T) {
	m := newMachine(t)
	got := Take(m.root)
	want := Inventory{Version: 1,
		PCI: []Function{
			{Address: "0000:00:1f.4", ID: "8086:a323", Class: "0x0c0500"},
			{Address: "0000:00:1f.6", ID: "8086:15b8", Class: "0x020000", Driver: "e1000e"},
			{Address: "0000:01:00.0", ID: "144d:a808", Class: "0x010802", Driver: "nvme"},
		},
		Net:   []Link{{Name: "eth0", MAC: "52:54:00:12:34:56", Driver: "e1000e", Carrier: true}},
		Block: []Block{{Name: "nvme0n1", Sectors: "1000215216"}},
		Input: []Input{{Name: "AT Translated Set 2 keyboard", Phys: "isa0060/serio0/input0"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Take (-want +got):\n%s", diff)
	}
	if inv := Take(t.TempDir()); len(inv.PCI)+len(inv.Net)+len(inv.Block)+len(inv.Input) != 0 || inv.Version != 1 {
		t.Errorf("Take of an empty tree = %+v", inv)
	}
}

// The classic kexec failures: a NIC whose driver did not bind again, a
// link without carrier, a keyboard gone; a device that appeared, or one
// that did not work before, is not a loss; Ignore drops a loss.
func TestCompare(t *testing.T) {
	m := newMachine(t)
	before := Take(m.root)
	if l := Compare(before, Take(m.root), Rules{}); len(l) != 0 {
		t.Fatalf("the same machine lost %v", l)
	}
	m.bind("0000:00:1f.6", "")
	m.file("sys/class/net/eth0/carrier", "0")
	os.RemoveAll(filepath.Join(m.root, "sys/class/input/input0"))
	m.pci("0000:02:00.0", "0x10de", "0x2204", "0x030000", "nouveau") // appeared
	m.bind("0000:00:1f.4", "i801_smbus")                             // now driven
	var got []string
	for _, l := range Compare(before, Take(m.root), Rules{}) {
		got = append(got, l.String())
	}
	want := []string{
		"pci/0000:00:1f.6: 8086:15b8 (0x020000) has no driver; e1000e drove it before",
		"net/eth0: link eth0 (52:54:00:12:34:56) has no carrier; it had before",
		`input/AT Translated Set 2 keyboard: input device "AT Translated Set 2 keyboard" (isa0060/serio0/input0) is gone`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Compare (-want +got):\n%s", diff)
	}
	l := Compare(before, Take(m.root), Rules{Ignore: []string{"input/*", "net/eth*"}})
	if len(l) != 1 || !strings.HasPrefix(l[0].ID, "pci/") {
		t.Errorf("with input/* and net/eth* ignored: %v", l)
	}
	// A disk gone, and a renamed link (same MAC) that kept its carrier.
	m = newMachine(t)
	before = Take(m.root)
	os.RemoveAll(filepath.Join(m.root, "sys/class/block/nvme0n1"))
	os.RemoveAll(filepath.Join(m.root, "sys/class/net/eth0"))
	m.net("enp0s31f6", "52:54:00:12:34:56", "e1000e", "1", true)
	got = nil
	for _, l := range Compare(before, Take(m.root), Rules{}) {
		got = append(got, l.String())
	}
	if diff := cmp.Diff([]string{"block/nvme0n1: block device nvme0n1 (1000215216 sectors) is gone"}, got); diff != "" {
		t.Errorf("Compare (-want +got):\n%s", diff)
	}
}
