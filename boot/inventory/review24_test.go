package inventory

import (
	"os"
	"path/filepath"
	"testing"
)

// REVIEW 24: links are matched by MAC, and the slaves of a bond (802.3ad,
// balance-*, active-backup without fail_over_mac) all show the bond's
// MAC. After the kexec eth0 (one bond slave) has no carrier while eth1
// has: both before-links find "the" link of that MAC, eth1, and the loss
// is never seen. The bond runs degraded, the boot is blessed.
func TestReview24BondSlaveLossMissed(t *testing.T) {
	const bond = "52:54:00:aa:bb:cc"
	before := Inventory{Version: 1, Net: []Link{
		{Name: "eth0", MAC: bond, Driver: "ixgbe", Carrier: true},
		{Name: "eth1", MAC: bond, Driver: "i40e", Carrier: true},
	}}
	after := Inventory{Version: 1, Net: []Link{
		{Name: "eth0", MAC: bond, Driver: "ixgbe", Carrier: false},
		{Name: "eth1", MAC: bond, Driver: "i40e", Carrier: true},
	}}
	if l := Compare(before, after, Rules{}); len(l) != 1 || l[0].ID != "net/eth0" {
		t.Errorf("Compare(bond slave eth0 lost its carrier) = %v; want net/eth0 lost", l)
	}
}

// REVIEW 24: devices made by software are counted as devices a kexec
// could lose. An nbd module loaded by hand (qemu-nbd: nbd0..nbd15, 0
// sectors, under /sys/devices/virtual/block, no "device") and a uinput
// keyboard a daemon made (/sys/devices/virtual/input) are "gone" after
// any restart that does not make them again before bless: the check
// fails, the machine restarts through the firmware, and the kernel is
// recorded kexec-unsafe for good. Take skips lo/bridges for having no
// "device", and loop/dm/md by name, but not these.
func TestReview24SoftwareDevicesCounted(t *testing.T) {
	m := newMachine(t)
	after := Take(m.root)
	m.file("sys/class/block/nbd0/size", "0")
	m.file("sys/class/block/zd0/size", "2097152") // a ZFS zvol
	v := filepath.Join(m.root, "sys/devices/virtual/input/input9")
	os.MkdirAll(v, 0o755)
	os.WriteFile(filepath.Join(v, "name"), []byte("keyd virtual keyboard\n"), 0o644)
	os.Symlink("../../devices/virtual/input/input9", filepath.Join(m.root, "sys/class/input/input9"))
	before := Take(m.root)
	if l := Compare(before, after, Rules{}); len(l) != 0 {
		t.Errorf("Compare = %v; want no loss for devices made by software", l)
	}
}

// REVIEW 24: a link that had carrier before and that the booted system
// has not brought up (admin down: its carrier reads EINVAL) is counted
// as a kexec loss, though nothing says the device failed: a link
// configured by a service that starts after bless (bless is ordered after
// local-fs only), or one the new configuration no longer uses. The
// firmware restart does not change that either, yet the kernel stays
// recorded unsafe.
func TestReview24AdminDownLinkCounted(t *testing.T) {
	m := newMachine(t)
	before := Take(m.root)
	os.Remove(filepath.Join(m.root, "sys/class/net/eth0/carrier")) // EINVAL when down
	m.file("sys/class/net/eth0/flags", "0x1002")                   // not IFF_UP
	m.file("sys/class/net/eth0/operstate", "down")
	after := Take(m.root)
	if l := Compare(before, after, Rules{}); len(l) != 0 {
		t.Errorf("Compare(eth0 present, driver bound, not brought up) = %v; want no kexec loss", l)
	}
}
