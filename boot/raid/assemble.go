package raid

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Member is a block device carrying an md superblock.
type Member struct {
	Device string // "sda1"
	Dev    string // "8:1", what md's new_dev takes
	SB     Superblock
}

// Array is what Assemble did with one array.
type Array struct {
	Name    string // "md127"
	UUID    string
	Level   int32
	Members []Member
	// Missing counts members the superblocks name that were not found:
	// the array runs degraded (a mirror needs one).
	Missing int
	Err     error
}

func (a Array) String() string {
	var devs []string
	for _, m := range a.Members {
		devs = append(devs, m.Device)
	}
	s := fmt.Sprintf("md RAID%d (metadata %s, uuid %s) from %s", a.Level, a.Members[0].SB.Version, a.UUID, strings.Join(devs, ", "))
	if a.Name != "" {
		s = a.Name + ": " + s
	}
	if a.Level == -1 {
		s = strings.Replace(s, "RAID-1", "linear", 1)
	}
	if a.Missing > 0 {
		s += fmt.Sprintf(", degraded: %d of %d members missing", a.Missing, a.Missing+len(a.Members))
	}
	if a.Err != nil {
		s += ": " + a.Err.Error()
	}
	return s
}

// Assembler finds md members among block devices and starts their arrays
// read-only. Its paths are parameters so tests lay out a fake /sys and
// /dev in a directory.
type Assembler struct {
	Sys, Dev string // "/sys", "/dev"
	// Need, if set, is called before the first array is started, so the
	// md driver's modules can be loaded (group "md").
	Need func(group string)
	done map[[16]byte]bool
	// pending are arrays seen with members missing and not started yet.
	pending map[[16]byte]bool
	// probed is what each device read once holds: its member
	// superblock, nil when it has none. A device's content does not
	// change under a read-only bootloader, and discovery passes repeat
	// every 200 ms while disks appear.
	probed map[string]*Member
}

// Member says whether device was seen carrying an md superblock: it is
// read through its array, never mounted on its own (a metadata 1.0 member
// looks like a plain filesystem, and mounting it would keep its array
// from starting).
func (a *Assembler) Member(device string) bool { return a.probed[device] != nil }

// Pending says whether an array was seen incomplete and not started: a
// member disk may still be appearing.
func (a *Assembler) Pending() bool { return len(a.pending) > 0 }

// New returns an Assembler for the running system.
func New() *Assembler { return &Assembler{Sys: "/sys", Dev: "/dev"} }

// Probe reads device's md superblock, if any.
func (a *Assembler) Probe(device string) (Member, bool) {
	f, err := os.Open(filepath.Join(a.Dev, device))
	if err != nil {
		return Member{}, false
	}
	defer f.Close()
	size, err := f.Seek(0, io.SeekEnd)
	if err != nil || size < 8192 {
		return Member{}, false
	}
	offs := Offsets(size)
	for _, v := range []string{"1.2", "1.1", "1.0", "0.90"} {
		off, ok := offs[v]
		if !ok {
			continue
		}
		b := make([]byte, 4096)
		if n, _ := f.ReadAt(b, off); n < 256 {
			continue
		}
		if sb, ok := ParseSuperblock(v, b); ok {
			dev, err := os.ReadFile(filepath.Join(a.Sys, "class/block", device, "dev"))
			if err != nil {
				return Member{}, false
			}
			return Member{Device: device, Dev: strings.TrimSpace(string(dev)), SB: sb}, true
		}
	}
	return Member{}, false
}

// Assemble starts, read-only, each array whose members are among devices
// and which is not running yet. With final false an array is started only
// once all its members are there (disks may still be appearing); with
// final true, also degraded. It returns what it did, one Array each.
func (a *Assembler) Assemble(devices []string, final bool) []Array {
	if a.done == nil {
		a.done, a.pending, a.probed = map[[16]byte]bool{}, map[[16]byte]bool{}, map[string]*Member{}
	}
	groups := map[[16]byte][]Member{}
	var order [][16]byte
	for _, d := range devices {
		mp, seen := a.probed[d]
		if !seen {
			if m, ok := a.Probe(d); ok {
				mp = &m
			}
			a.probed[d] = mp
		}
		if mp == nil {
			continue
		}
		m := *mp
		if a.done[m.SB.UUID] || a.claimed(d) {
			continue
		}
		if groups[m.SB.UUID] == nil {
			order = append(order, m.SB.UUID)
		}
		groups[m.SB.UUID] = append(groups[m.SB.UUID], m)
	}
	var out []Array
	for _, u := range order {
		ms := groups[u]
		want := int(ms[0].SB.RaidDisks)
		if len(ms) < want && !final {
			a.pending[u] = true
			continue
		}
		delete(a.pending, u)
		a.done[u] = true
		// The freshest members first: md refuses a member whose events
		// lag, and names the array after the first.
		sort.SliceStable(ms, func(i, j int) bool { return ms[i].SB.Events > ms[j].SB.Events })
		arr := Array{UUID: ms[0].SB.UUIDString(), Level: ms[0].SB.Level, Members: ms, Missing: max(0, want-len(ms))}
		if arr.Level != 1 {
			// The image carries md's RAID1 personality only: a /boot is a
			// mirror (every member holds all of it, which is also what
			// lets firmware and GRUB read one).
			arr.Err = fmt.Errorf("RAID level %d is not assembled: warmboot reads RAID1 arrays only (keep /boot on a mirror)", arr.Level)
			out = append(out, arr)
			continue
		}
		arr.Name, arr.Err = a.start(ms)
		out = append(out, arr)
	}
	return out
}

// claimed says whether device is already held by an array (or anything
// else): its sysfs holders directory is not empty.
func (a *Assembler) claimed(device string) bool {
	hs, _ := os.ReadDir(filepath.Join(a.Sys, "class/block", device, "holders"))
	return len(hs) > 0
}

func (a *Assembler) start(ms []Member) (string, error) {
	newArray := filepath.Join(a.Sys, "module/md_mod/parameters/new_array")
	if _, err := os.Stat(newArray); err != nil && a.Need != nil {
		a.Need("md")
	}
	if _, err := os.Stat(newArray); err != nil {
		return "", ErrNoMD
	}
	var name string
	for n := 127; n >= 0; n-- {
		name = "md" + strconv.Itoa(n)
		if _, err := os.Stat(filepath.Join(a.Sys, "block", name)); err == nil {
			continue
		}
		if err := write(newArray, name); err != nil {
			return "", fmt.Errorf("creating %s: %w", name, err)
		}
		break
	}
	md := filepath.Join(a.Sys, "block", name, "md")
	// md makes the directory as it takes the name; give a slow sysfs a
	// moment rather than fail.
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(md, "metadata_version")); err == nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := write(filepath.Join(md, "metadata_version"), ms[0].SB.Version); err != nil {
		return name, fmt.Errorf("setting metadata %s: %w", ms[0].SB.Version, err)
	}
	added := 0
	var errs []string
	for _, m := range ms {
		if err := write(filepath.Join(md, "new_dev"), m.Dev+"\n"); err != nil {
			errs = append(errs, fmt.Sprintf("%s not added (%v)", m.Device, err))
			continue
		}
		added++
	}
	if added == 0 {
		write(filepath.Join(md, "array_state"), "clear")
		return name, fmt.Errorf("no member could be added: %s", strings.Join(errs, "; "))
	}
	if err := write(filepath.Join(md, "array_state"), "readonly"); err != nil {
		write(filepath.Join(md, "array_state"), "clear")
		return name, fmt.Errorf("starting it read-only: %w", err)
	}
	if len(errs) > 0 {
		return name, fmt.Errorf("started without %s", strings.Join(errs, "; "))
	}
	return name, nil
}

func write(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
