package loader

import (
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/lvm"
	"github.com/warmboot/warmboot/boot/raid"
)

// FastWait bounds how long the handed-over entry's fast path waits for
// the filesystems the handoff names to appear (within Config.Wait)
// before it looks on every disk.
const FastWait = 2 * time.Second

// MountDir is where the bootloader mounts the disks, read-only.
const MountDir = "/run/warmboot/mnt"

// Disks are the discovery loop's inputs, each step of finding the disks
// on its own, so that the loop itself runs under test with fakes.
// RealDisks are the machine's.
type Disks struct {
	// Devices lists the block devices there are now (discover.Devices).
	Devices func() ([]string, error)
	// Coldplug loads the drivers of devices that appeared since the last
	// call (the disks behind a controller just loaded, USB devices on a
	// hub); nil for none.
	Coldplug func()
	// RAID assembles md arrays as their members appear.
	RAID RAID
	// LVM maps LVM logical volumes read-only once their PVs are there.
	LVM func(devices []string) []lvm.Result
	// FSID reads a device's filesystem identity from its superblock
	// (discover.ReadFSID), for the handed-over entry's fast path; nil
	// has no fast path.
	FSID func(device string) discover.FSID
	// Mount mounts devices read-only under MountDir (discover.MountAll).
	Mount func(names []string) ([]discover.Mounted, []discover.Probe)
	// Write runs f with a mounted filesystem writable
	// (discover.WithWritable).
	Write func(m discover.Mounted, f func(*os.Root) error) error
	// Unmount releases every disk before a kexec or a shell.
	Unmount func() error
	// USB says which USB storage is still being probed ("" none).
	USB func(now time.Time) string
	// Now and Sleep are the clock the wait runs on.
	Now   func() time.Time
	Sleep func(time.Duration)
	// EFI returns the UEFI variables, for systemd's Boot Loader
	// Interface (bootctl set-default, set-oneshot): efivar.Mount, an
	// error that errors.Is fs.ErrNotExist on a machine without UEFI; nil
	// reads none.
	EFI func() (efivar.Vars, error)
}

// RAID is what the loop needs of an md assembler (raid.Assembler).
type RAID interface {
	Assemble(devices []string, final bool) []raid.Array
	// Member says a device is read through its array.
	Member(device string) bool
	// Pending says an array still misses a member.
	Pending() bool
}

// RealDisks are this machine's disks; need loads an on-demand module
// group (md, dm, a filesystem's driver) the first time it is needed.
func RealDisks(log *slog.Logger, coldplug func(), need func(group string)) Disks {
	r, l := raid.New(), lvm.New()
	r.Need, l.Need = need, need
	usb := &discover.USBSettle{Sys: "/sys"}
	return Disks{
		Devices:  discover.Devices,
		Coldplug: coldplug,
		RAID:     r,
		LVM:      l.Activate,
		FSID:     func(n string) discover.FSID { return discover.ReadFSID(filepath.Join("/dev", n)) },
		Mount: func(names []string) ([]discover.Mounted, []discover.Probe) {
			return discover.MountAll(MountDir, names, log, need)
		},
		Write:   discover.WithWritable,
		Unmount: func() error { return discover.UnmountAll(MountDir) },
		USB:     usb.Pending,
		Now:     time.Now,
		Sleep:   time.Sleep,
		EFI:     func() (efivar.Vars, error) { return efivar.Mount("/") },
	}
}

// mounted are the filesystems discovery mounted, by device.
type mounted map[string]discover.Mounted

// discover mounts the block devices and parses their configs, waiting up
// to the configured wait for disks to appear: md arrays are assembled
// first (their members are then read through the array), then LVM (whose
// PVs may be on those arrays), then every new device is mounted and every
// volume scanned again (a GRUB config's search may find a disk that
// appeared after it). It returns when there are entries and no array
// misses a member and no USB stick is still being probed, or at the
// deadline.
func (l *Loader) discover() (choose.Menu, []discover.Probe) {
	m, probes, _ := l.discoverFound(nil)
	return m, probes
}

// discoverFound is discover, trying first, when found is not nil, the
// handed-over entry's fast path (fastMount): fast says the menu is from
// found's filesystems alone.
func (l *Loader) discoverFound(found *handoff.Found) (_ choose.Menu, _ []discover.Probe, fast bool) {
	var (
		vols   []entry.Volume
		probes []discover.Probe
		seen   = map[string]bool{}
		m      choose.Menu
		d      = l.disks
	)
	devices := func() []string {
		names, err := d.Devices()
		if err != nil {
			l.say("%v", err)
		}
		return names
	}
	deadline := d.Now().Add(l.cfg.Wait)
	fastDeadline := d.Now().Add(min(l.cfg.Wait, FastWait))
	for {
		final := d.Now().After(deadline)
		end := l.tl.Begin("discover")
		if d.Coldplug != nil {
			d.Coldplug()
		}
		names := devices()
		if arrays := d.RAID.Assemble(names, final); len(arrays) > 0 {
			for _, a := range arrays {
				if a.Name == "" {
					l.say("not assembling %s", a)
				} else {
					l.say("assembled %s", a)
				}
				for _, m := range a.Members {
					probes = append(probes, discover.Probe{Device: m.Device, Result: "member of " + a.String()})
				}
			}
			names = devices()
		}
		if vols := d.LVM(names); len(vols) > 0 {
			for _, v := range vols {
				l.say("%s", v)
				for _, pv := range v.PVs {
					probes = append(probes, discover.Probe{Device: pv, Result: "LVM physical volume of " + v.VG})
				}
			}
			names = devices()
		}
		end()
		var fresh []string
		for _, n := range names {
			if d.RAID.Member(n) {
				continue // read through its array
			}
			if !seen[n] {
				seen[n] = true
				fresh = append(fresh, n)
			}
		}
		if found != nil {
			m, p, why, missing := l.fastMount(fresh, found)
			if why == "" {
				return m, p, true
			}
			if missing && !final && d.Now().Before(fastDeadline) {
				// A disk still being probed (an HBA's, an NVMe
				// namespace) may yet appear: nothing was mounted, so
				// look again shortly.
				for _, n := range fresh {
					delete(seen, n)
				}
				d.Sleep(100 * time.Millisecond)
				continue
			}
			found = nil
			l.say("fast path not taken: %s; looking on every disk", why)
		}
		end = l.tl.Begin("mount")
		mts, p := d.Mount(fresh)
		end()
		probes = append(probes, p...)
		end = l.tl.Begin("parse")
		for _, mt := range mts {
			vols = append(vols, mt.Volume())
			l.mounts[mt.Device] = mt
		}
		m = choose.Rank(discover.Scan(vols))
		end()
		// An array still missing a member, or a USB stick still being
		// probed, may be where the configs are: wait for it (or the
		// deadline) even with entries found.
		usbWait := d.USB(d.Now())
		if len(m.Entries) > 0 && !d.RAID.Pending() && usbWait == "" || final {
			if final && usbWait != "" {
				l.say("%s after %s: not waiting longer (warmboot.wait= waits longer)", usbWait, l.cfg.Wait)
			}
			return m, probes, false
		}
		d.Sleep(200 * time.Millisecond)
	}
}

// fastMount is the handed-over entry's fast path (handoff.Found): of the
// devices there are, it mounts those holding found's filesystems alone,
// and scans them. It gives up, leaving nothing mounted, and says why,
// when a filesystem is missing or on two devices (a cloned disk), or
// the menu's entries are not the ones the running system saw. Whether
// the entry's files still boot the same is checked when they are read
// (stageLoad).
func (l *Loader) fastMount(devices []string, found *handoff.Found) (_ choose.Menu, _ []discover.Probe, why string, missing bool) {
	d := l.disks
	if d.FSID == nil {
		return choose.Menu{}, nil, "no superblock reader", false
	}
	end := l.tl.Begin("discover")
	where := map[string][]string{}
	var pick []string
	here := map[string]bool{}
	for _, n := range devices {
		id := d.FSID(n)
		here[id.UUID] = true
		switch {
		case id.UUID != "" && slices.Contains(found.Volumes, id.UUID):
			where[id.UUID] = append(where[id.UUID], n)
		case id.Type != "" && (id.UUID == "" || !slices.Contains(found.Others, id.UUID)):
			// A filesystem the running system does not mount (it
			// could not look into it): read, as without the fast
			// path. One holding entries makes the menu differ, and
			// the fast path gives way; an ESP's state is found.
			pick = append(pick, n)
		}
	}
	end()
	for _, u := range found.USB {
		// The running system's USB storage, which discovery would wait
		// for (USB settling): these filesystems, not USB as a whole.
		if !here[u] {
			return choose.Menu{}, nil, fmt.Sprintf("the running system's USB storage (filesystem UUID %s) is not here yet", u), true
		}
	}
	for _, u := range found.Volumes {
		switch devs := where[u]; len(devs) {
		case 0:
			return choose.Menu{}, nil, fmt.Sprintf("no device has the filesystem UUID %s the handoff names", u), true
		case 1:
			if !slices.Contains(pick, devs[0]) {
				pick = append(pick, devs[0])
			}
		default:
			return choose.Menu{}, nil, fmt.Sprintf("the filesystem UUID %s is on %s", u, strings.Join(devs, " and ")), false
		}
	}
	slices.Sort(pick)
	end = l.tl.Begin("mount")
	mts, probes := d.Mount(pick)
	end()
	if len(mts) < len(pick) {
		l.unmountAll()
		return choose.Menu{}, nil, fmt.Sprintf("not every filesystem of %s could be mounted", strings.Join(pick, ", ")), false
	}
	end = l.tl.Begin("parse")
	var vols []entry.Volume
	var ids []string
	for _, mt := range mts {
		vols = append(vols, mt.Volume())
		l.mounts[mt.Device] = mt
	}
	m := choose.Rank(discover.Scan(vols))
	for _, e := range m.Entries {
		ids = append(ids, e.ID)
	}
	end()
	if handoff.MenuIDs(ids) != found.Entries {
		l.unmountAll()
		return choose.Menu{}, nil, fmt.Sprintf("the entries on %s are not the ones the running system saw", strings.Join(pick, ", ")), false
	}
	l.say("fast path: mounted only %s: the filesystems the handoff names, and any the running system does not mount (%d other devices not read)", strings.Join(pick, ", "), len(devices)-len(pick))
	return m, probes, "", false
}

// unmountAll releases every disk and forgets what was mounted.
func (l *Loader) unmountAll() {
	if err := l.disks.Unmount(); err != nil {
		l.warn("%v", err)
	}
	l.mounts, l.vols = mounted{}, nil
}

// write runs f with device's filesystem writable (Files).
func (l *Loader) write(device string, f func(*os.Root) error) error {
	m, ok := l.mounts[device]
	if !ok {
		return fmt.Errorf("%s is not mounted", device)
	}
	return l.disks.Write(m, f)
}

// writable says why the bootloader cannot write device (discover.Writable),
// or nil.
func (l *Loader) writable(device string) error {
	m, ok := l.mounts[device]
	if !ok {
		return fmt.Errorf("%s is not mounted", device)
	}
	return discover.Writable(m)
}

// volume reads a mounted device through safefs (a FIFO or device node
// named like the state file on a hostile disk is refused, not opened);
// nil when it is not mounted.
func (l *Loader) volume(device string) fs.FS {
	m, ok := l.mounts[device]
	if !ok {
		return nil
	}
	if l.vols == nil {
		l.vols = map[string]fs.FS{}
	}
	if l.vols[device] == nil {
		l.vols[device] = m.Volume().FS
	}
	return l.vols[device]
}

func (l *Loader) explainNothing(probes []discover.Probe, warnings []entry.Warning) {
	l.say("no boot entries found.")
	if len(probes) == 0 {
		l.say("  no block devices appeared within %s (is the disk driver's module in the image?)", l.cfg.Wait)
	}
	for _, p := range probes {
		l.say("  %s: %s", p.Device, p.Result)
	}
	for _, w := range warnings {
		l.say("  %s", w)
	}
	l.say("looked for: %s", strings.Join(discover.Looked(), ", "))
}
