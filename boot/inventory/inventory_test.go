package inventory

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

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
	m.file("sys/class/block/nvme0n1/device/state", "live")
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

// SR-IOV virtual functions are the running system's making: not in the
// inventory. Disks are known by WWID, serial or PCI function, not by
// name: two disks whose names swapped across a boot lost nothing; one of
// two disks on one controller gone is a loss.
func TestIdentity(t *testing.T) {
	m := newMachine(t)
	m.pci("0000:3b:00.0", "0x8086", "0x1572", "0x020000", "i40e")
	m.pci("0000:3b:02.0", "0x8086", "0x154c", "0x020000", "iavf")
	if err := os.Symlink("../0000:3b:00.0", filepath.Join(m.root, "sys/bus/pci/devices/0000:3b:02.0/physfn")); err != nil {
		t.Fatal(err)
	}
	m.net("enp59s0f0v0", "52:54:00:aa:bb:01", "iavf", "1", true)
	if err := os.Symlink("../../../bus/pci/devices/0000:3b:02.0", filepath.Join(m.root, "sys/class/net/enp59s0f0v0/device/physfn")); err != nil {
		t.Fatal(err)
	}
	disk := func(name, size, wwid, pci string) {
		d := "sys/class/block/" + name
		m.file(d+"/size", size)
		if wwid != "" {
			m.file(d+"/wwid", wwid)
			m.file(d+"/device/state", "running")
		}
		if pci != "" {
			dev := filepath.Join(m.root, "sys/devices/pci0000:00", pci, "host0/target0:0:"+name)
			os.MkdirAll(dev, 0o755)
			if err := os.Symlink(dev, filepath.Join(m.root, d, "device")); err != nil {
				t.Fatal(err)
			}
		}
	}
	disk("sda", "100", "naa.5000c500a1b2c3d4", "")
	disk("sdb", "200", "naa.5000c500a1b2c3d5", "")
	disk("sdc", "300", "", "0000:00:17.0")
	disk("sdd", "300", "", "0000:00:17.0")
	before := Take(m.root)
	for _, f := range before.PCI {
		if f.Address == "0000:3b:02.0" {
			t.Errorf("a virtual function is in the inventory: %+v", f)
		}
	}
	for _, l := range before.Net {
		if l.Name == "enp59s0f0v0" {
			t.Errorf("a virtual function's link is in the inventory: %+v", l)
		}
	}
	ids := map[string]string{}
	for _, b := range before.Block {
		ids[b.Name] = b.ID
	}
	if diff := cmp.Diff(map[string]string{"nvme0n1": "", "sda": "wwid:naa.5000c500a1b2c3d4", "sdb": "wwid:naa.5000c500a1b2c3d5", "sdc": "pci:0000:00:17.0", "sdd": "pci:0000:00:17.0"}, ids); diff != "" {
		t.Errorf("block IDs (-want +got):\n%s", diff)
	}
	after := before
	after.Block = nil
	for _, b := range before.Block {
		switch b.Name {
		case "sda":
			b.Name = "sdb"
		case "sdb":
			b.Name = "sda"
		}
		after.Block = append(after.Block, b)
	}
	if l := Compare(before, after, Rules{}); len(l) != 0 {
		t.Errorf("names swapped: lost %v", l)
	}
	after.Block = slices.DeleteFunc(slices.Clone(after.Block), func(b Block) bool { return b.Name == "sdd" })
	if l := Compare(before, after, Rules{}); len(l) != 1 || l[0].ID != "block/sdd" {
		t.Errorf("one of two disks on one controller gone: lost %v", l)
	}
}

func TestRules(t *testing.T) {
	r, err := ParseRules([]byte("# the laptop's wifi comes and goes\nignore net/wl*\nignore input/*  # USB\nignore input/AT Translated Set 2 keyboard\ncarrier no\nwait 2m\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Rules{Ignore: []string{"net/wl*", "input/*", "input/AT Translated Set 2 keyboard"}, NoCarrier: true, Wait: 2 * time.Minute}, r); diff != "" {
		t.Errorf("ParseRules (-want +got):\n%s", diff)
	}
	if r, err := ParseRules(nil); err != nil || r.Wait != DefaultWait || r.Off {
		t.Errorf("ParseRules(empty) = %+v, %v", r, err)
	}
	if r, _ := ParseRules([]byte("check off\n")); !r.Off {
		t.Errorf("check off: %+v", r)
	}
	for _, bad := range []string{"ignore [", "wait forever", "wait 11m", "wait -1s", "carrier maybe", "check later", "frobnicate yes", "ignore", "carrier no yes"} {
		if _, err := ParseRules([]byte("# x\n" + bad + "\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
			t.Errorf("ParseRules(%q) = %v; want an error at line 2", bad, err)
		}
	}
	root := t.TempDir()
	if r, err := ReadRules(root); err != nil || r.Wait != DefaultWait {
		t.Errorf("ReadRules(none) = %+v, %v", r, err)
	}
	p := filepath.Join(root, RulesFile)
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("wait soon\n"), 0o644)
	if _, err := ReadRules(root); err == nil || !strings.Contains(err.Error(), RulesFile) {
		t.Errorf("ReadRules(bad) = %v; want an error naming %s", err, RulesFile)
	}
	// Carrier lost, with carrier no: not a loss; the link gone still is.
	m := newMachine(t)
	before := Take(m.root)
	m.file("sys/class/net/eth0/carrier", "0")
	if l := Compare(before, Take(m.root), Rules{NoCarrier: true}); len(l) != 0 {
		t.Errorf("carrier no: lost %v", l)
	}
	os.RemoveAll(filepath.Join(m.root, "sys/class/net/eth0"))
	if l := Compare(before, Take(m.root), Rules{NoCarrier: true}); len(l) != 1 {
		t.Errorf("carrier no, link gone: lost %v", l)
	}
}

// Settle waits for a link to come back, and gives up at Wait.
func TestSettle(t *testing.T) {
	m := newMachine(t)
	before := Take(m.root)
	m.file("sys/class/net/eth0/carrier", "0")
	clock := time.Date(2026, 12, 4, 0, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	takes := 0
	take := func() Inventory {
		takes++
		if takes == 3 {
			m.file("sys/class/net/eth0/carrier", "1") // negotiated
		}
		return Take(m.root)
	}
	sleep := func(d time.Duration) { clock = clock.Add(d) }
	if l, _ := Settle(before, Rules{Wait: 30 * time.Second}, take, now, sleep); len(l) != 0 || takes != 3 {
		t.Errorf("Settle = %v after %d takes; want none after 3", l, takes)
	}
	m.file("sys/class/net/eth0/carrier", "0")
	takes, start := 100, clock
	if l, _ := Settle(before, Rules{Wait: 30 * time.Second}, take, now, sleep); len(l) != 1 || clock.Sub(start) != 30*time.Second {
		t.Errorf("Settle = %v after %s; want the loss after 30s", l, clock.Sub(start))
	}
}

func FuzzParseRules(f *testing.F) {
	f.Add([]byte("ignore net/wl*\ncarrier no\nwait 60s\ncheck on\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseRules(b)
		if err != nil {
			return
		}
		if r.Wait < 0 || r.Wait > maxWait {
			t.Errorf("wait %s out of bounds", r.Wait)
		}
		Compare(Inventory{Net: []Link{{Name: "wlan0", MAC: "x", Carrier: true}}}, Inventory{}, r)
	})
}
