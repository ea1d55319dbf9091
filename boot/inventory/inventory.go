// Package inventory records the devices whose loss after a kexec is a
// failure, and compares two records: PCI functions and the drivers bound
// to them, network links and their carrier, block devices, input
// devices. kexec skips the firmware's POST, so a driver that does not
// reinitialise its device leaves it dead though the kernel came up;
// warmswap takes an inventory before it stops anything and the booted
// system takes another before it blesses the boot (issue 24).
//
// Everything is read from sysfs under a root directory, so the rules are
// tested on a fake tree.
package inventory

import (
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Version is the record's version (typed and versioned: it crosses a
// kexec in the booted record).
const Version = 1

// Inventory is one machine's devices at one moment.
type Inventory struct {
	Version int        `json:"version"`
	PCI     []Function `json:"pci"`
	Net     []Link     `json:"net"`
	Block   []Block    `json:"block"`
	Input   []Input    `json:"input"`
}

// Function is a PCI function.
type Function struct {
	// Address is the function's address ("0000:00:1f.6").
	Address string `json:"address"`
	// ID is vendor:device in hex ("8086:15b8").
	ID string `json:"id"`
	// Class is the PCI class code ("0x020000").
	Class string `json:"class"`
	// Driver is the driver bound to it, "" when none is.
	Driver string `json:"driver,omitempty"`
}

// Link is a network interface backed by a device.
type Link struct {
	Name string `json:"name"`
	MAC  string `json:"mac"`
	// Port is the PCI function it hangs from and its port on it
	// ("0000:3b:00.1/0"): what it is known by, as the ports of a bond
	// share the bond's MAC and names may change across kernels; "" when
	// it hangs from no PCI function (then its MAC).
	Port   string `json:"port,omitempty"`
	Driver string `json:"driver,omitempty"`
	// Down says it is administratively down (no IFF_UP); Carrier, that
	// its link is established.
	Down    bool `json:"down,omitempty"`
	Carrier bool `json:"carrier"`
}

func (l Link) key() string {
	if l.Port != "" {
		return "port " + l.Port
	}
	return "mac " + l.MAC
}

// Block is a whole block device (not a partition).
type Block struct {
	Name string `json:"name"`
	// Sectors is its size in 512-byte sectors.
	Sectors string `json:"sectors"`
	// ID is what it is known by, as names (sda, sdb; nvme0n1) follow
	// the order in which disks were found, which a boot may change: its
	// WWID ("wwid:eui.0025388b91b2e3c1"), else its serial
	// ("serial:..."), else the PCI function it hangs from
	// ("pci:0000:00:04.0"; several disks may share one); "" when none
	// is known (then its name).
	ID string `json:"id,omitempty"`
}

func (b Block) key() string {
	if b.ID != "" {
		return b.ID + " " + b.Sectors
	}
	return b.Name + " " + b.Sectors
}

// Input is an input device (keyboard, mouse, touchpad, ...).
type Input struct {
	Name string `json:"name"`
	Phys string `json:"phys,omitempty"`
}

// Take reads the inventory of the machine whose sysfs is root/sys.
// Unreadable parts are left empty: a machine without PCI has none.
func Take(root string) Inventory {
	sys := filepath.Join(root, "sys")
	inv := Inventory{Version: Version}
	for _, d := range dir(filepath.Join(sys, "bus/pci/devices")) {
		p := filepath.Join(sys, "bus/pci/devices", d)
		if isVF(p) {
			continue
		}
		f := Function{Address: d, ID: trimHex(read(p, "vendor")) + ":" + trimHex(read(p, "device")), Class: read(p, "class"), Driver: link(p, "driver")}
		inv.PCI = append(inv.PCI, f)
	}
	for _, d := range dir(filepath.Join(sys, "class/net")) {
		p := filepath.Join(sys, "class/net", d)
		if _, err := os.Stat(filepath.Join(p, "device")); err != nil {
			continue // virtual: lo, bridges, bonds, tunnels
		}
		if isVF(filepath.Join(p, "device")) {
			continue
		}
		inv.Net = append(inv.Net, Link{Name: d, MAC: read(p, "address"), Port: port(p), Driver: link(filepath.Join(p, "device"), "driver"),
			Down: !up(read(p, "flags")), Carrier: read(p, "carrier") == "1"})
	}
	for _, d := range dir(filepath.Join(sys, "class/block")) {
		p := filepath.Join(sys, "class/block", d)
		if _, err := os.Stat(filepath.Join(p, "partition")); err == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(p, "device")); err != nil {
			continue // made by software, on no bus: loop, dm, md, nbd, zram, a zvol
		}
		if s := read(p, "size"); s == "" || s == "0" {
			continue // no medium (an empty card reader, a CD drive)
		}
		inv.Block = append(inv.Block, Block{Name: d, Sectors: read(p, "size"), ID: blockID(p)})
	}
	for _, d := range dir(filepath.Join(sys, "class/input")) {
		if !strings.HasPrefix(d, "input") {
			continue // event*, mouse*: the same devices' handlers
		}
		p := filepath.Join(sys, "class/input", d)
		if t, err := filepath.EvalSymlinks(p); err == nil && strings.Contains(filepath.ToSlash(t), "/devices/virtual/") {
			continue // made by software: uinput (a remapping daemon's keyboard)
		}
		inv.Input = append(inv.Input, Input{Name: read(p, "name"), Phys: read(p, "phys")})
	}
	return inv
}

func dir(p string) []string {
	es, err := os.ReadDir(p)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

func read(p, name string) string {
	b, err := os.ReadFile(filepath.Join(p, name))
	if err != nil || len(b) > 4096 {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// link is the base name of the symlink p/name ("driver" → "e1000e").
func link(p, name string) string {
	t, err := os.Readlink(filepath.Join(p, name))
	if err != nil {
		return ""
	}
	return path.Base(filepath.ToSlash(t))
}

// isVF says the PCI function at p is an SR-IOV virtual function: the
// running system made it (sriov_numvfs), and a boot has none until it is
// made again, so it is no device a kexec could lose.
func isVF(p string) bool {
	_, err := os.Lstat(filepath.Join(p, "physfn"))
	return err == nil
}

// blockID is Block.ID of the block device at p (/sys/class/block/X).
func blockID(p string) string {
	for _, f := range []string{"wwid", "device/wwid"} {
		if v := read(p, f); v != "" {
			return "wwid:" + v
		}
	}
	for _, f := range []string{"serial", "device/serial"} {
		if v := read(p, f); v != "" {
			return "serial:" + v
		}
	}
	if addr := pciOf(p); addr != "" {
		return "pci:" + addr
	}
	return ""
}

// pciOf is the address of the PCI function the device of p (p/device)
// hangs from, the nearest on its sysfs path; "" when none.
func pciOf(p string) string {
	t, err := filepath.EvalSymlinks(filepath.Join(p, "device"))
	if err != nil {
		return ""
	}
	addr := ""
	for _, c := range strings.Split(filepath.ToSlash(t), "/") {
		if isPCIAddress(c) {
			addr = c
		}
	}
	return addr
}

// port is Link.Port of the link at p (/sys/class/net/NAME).
func port(p string) string {
	addr := pciOf(p)
	if addr == "" {
		return ""
	}
	dp := read(p, "dev_port")
	if dp == "" {
		dp = "0"
	}
	return addr + "/" + dp
}

// up reads IFF_UP from a link's flags ("0x1003"); unreadable flags are
// taken for up, so that a carrier lost is not overlooked.
func up(flags string) bool {
	f, err := strconv.ParseUint(strings.TrimPrefix(flags, "0x"), 16, 32)
	return err != nil || f&1 != 0
}

// isPCIAddress says s is a PCI function's address ("0000:00:1f.6").
func isPCIAddress(s string) bool {
	ok, _ := path.Match("[0-9a-f][0-9a-f][0-9a-f][0-9a-f]:[0-9a-f][0-9a-f]:[0-9a-f][0-9a-f].[0-7]", s)
	return ok
}

func trimHex(s string) string { return strings.TrimPrefix(s, "0x") }

// Loss is a device that worked before and does not after.
type Loss struct {
	// Kind is "pci", "net", "block" or "input"; ID names the device as
	// Rules.Ignore matches it ("pci/0000:00:1f.6", "net/eth0").
	Kind, ID string
	// What says what changed.
	What string
}

func (l Loss) String() string { return l.ID + ": " + l.What }

// Rules say which losses count and how long devices get to come back
// (RulesFile). The zero value counts every one, at once.
type Rules struct {
	// Off turns the check off.
	Off bool
	// Ignore are path.Match patterns of IDs that do not count
	// ("net/wl*", "input/*", "pci/0000:00:14.0").
	Ignore []string
	// NoCarrier: a link that lost its carrier (a cable, a switch port
	// down) does not count; only a link gone does.
	NoCarrier bool
	// Wait is how long the booted system lets devices come back (a link
	// takes seconds to negotiate) before a loss counts.
	Wait time.Duration
}

func (r Rules) ignored(id string) bool {
	for _, p := range r.Ignore {
		if ok, _ := path.Match(p, id); ok {
			return true
		}
	}
	return false
}

// Compare lists what worked in before and does not in after: a PCI
// function whose driver was bound and is not (or is gone), a link that
// had carrier and has none (or is gone), a block or input device that is
// gone. A device that appeared, or one that did not work before, is not
// a loss.
func Compare(before, after Inventory, r Rules) []Loss {
	var out []Loss
	add := func(kind, id, format string, args ...any) {
		id = kind + "/" + id
		if !r.ignored(id) {
			out = append(out, Loss{Kind: kind, ID: id, What: fmt.Sprintf(format, args...)})
		}
	}
	pci := map[string]Function{}
	for _, f := range after.PCI {
		pci[f.Address] = f
	}
	for _, f := range before.PCI {
		if f.Driver == "" {
			continue
		}
		a, ok := pci[f.Address]
		switch {
		case !ok:
			add("pci", f.Address, "%s (%s) is gone; %s drove it before", f.ID, f.Class, f.Driver)
		case a.Driver == "":
			add("pci", f.Address, "%s (%s) has no driver; %s drove it before", f.ID, f.Class, f.Driver)
		}
	}
	// Links are known by their port, else their MAC (names may change
	// across kernels); several with one MAC (a bond's ports) are told
	// apart by name.
	links := map[string][]Link{}
	for _, l := range after.Net {
		links[l.key()] = append(links[l.key()], l)
	}
	for _, l := range before.Net {
		if !l.Carrier {
			continue
		}
		cands := links[l.key()]
		i := slices.IndexFunc(cands, func(a Link) bool { return a.Name == l.Name })
		if i < 0 && len(cands) > 0 {
			i = 0
		}
		if i < 0 {
			add("net", l.Name, "link %s (%s) is gone; it had carrier before", l.Name, l.MAC)
			continue
		}
		a := cands[i]
		links[l.key()] = slices.Delete(slices.Clone(cands), i, i+1)
		// A link the booted system has not brought up (yet) says nothing
		// about its device: only presence counts then.
		if !a.Carrier && !a.Down && !r.NoCarrier {
			add("net", l.Name, "link %s (%s) has no carrier; it had before", a.Name, l.MAC)
		}
	}
	blocks := map[string]int{}
	for _, b := range after.Block {
		blocks[b.key()]++
	}
	for _, b := range before.Block {
		if blocks[b.key()] == 0 {
			id := ""
			if b.ID != "" {
				id = ", " + b.ID
			}
			add("block", b.Name, "block device %s (%s sectors%s) is gone", b.Name, b.Sectors, id)
			continue
		}
		blocks[b.key()]--
	}
	inputs := map[string]int{}
	for _, in := range after.Input {
		inputs[in.Name+" "+in.Phys]++
	}
	for _, in := range before.Input {
		k := in.Name + " " + in.Phys
		if inputs[k] == 0 {
			add("input", in.Name, "input device %q (%s) is gone", in.Name, in.Phys)
			continue
		}
		inputs[k]--
	}
	return out
}

// Worked is inv with only what Compare looks at in a "before" inventory:
// PCI functions with a driver, links with carrier, disks, input devices
// (a smaller record to hand over).
func Worked(inv Inventory) Inventory {
	out := Inventory{Version: inv.Version, Block: inv.Block, Input: inv.Input}
	for _, f := range inv.PCI {
		if f.Driver != "" {
			out.PCI = append(out.PCI, f)
		}
	}
	for _, l := range inv.Net {
		if l.Carrier {
			out.Net = append(out.Net, l)
		}
	}
	return out
}
