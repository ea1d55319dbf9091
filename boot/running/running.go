// Package running says which boot entry the running system is, by what
// it boots: warmboot's record of the boot (booted.json) when warmboot
// booted it, else the entry whose kernel is the running kernel and whose
// command line is the running one, as a system started by GRUB or
// systemd-boot (no record) has to be known: a config's entry, or the UEFI
// boot entry a firmware that starts the kernel itself started.
//
// The running kernel is matched by its build: the version string in the
// bzImage's setup header ("6.1.0-10-amd64 (debian-kernel@lists.debian.org)
// #1 SMP PREEMPT_DYNAMIC Debian 6.1.38-1 (2023-07-14)") against
// /proc/version, release and build ("#1 ... (2023-07-14)") both. The
// kernel's own bytes are not in memory to hash; its file is hashed for
// the Ref, as the bootloader hashes what it boots.
package running

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/coldpath"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/sumcache"
)

// Added are the parameters a bootloader adds to an entry's command line
// that its config does not hold: GRUB's BOOT_IMAGE, warmboot's trial
// parameters. They are left out when command lines are compared.
var Added = []string{"BOOT_IMAGE", "panic", "watchdog.open_timeout", "initrd"}

// HostMenu scans the running system's filesystems under root as the
// bootloader scans the disks, and ranks the entries as the bootloader
// does, systemd's LoaderEntryDefault (bootctl set-default) included.
func HostMenu(root string) (choose.Menu, error) {
	vols, err := discover.HostVolumes(root, "/")
	if err != nil {
		return choose.Menu{}, err
	}
	m, _ := nextboot.LoaderDefault(choose.Rank(discover.Scan(vols)), nextboot.HostVars(root))
	return m, nil
}

// ErrUnknown is returned when no entry is the running system.
var ErrUnknown = errors.New("cannot tell which boot entry is running")

// By is the evidence Identify knew the running entry by.
type By int

const (
	// ByBooted: booted.json, warmboot's record of what it booted.
	ByBooted By = iota + 1
	// ByOldBooted: booted.json of an older warmboot, with its entry's id
	// but not what it booted (the Ref has no Boots).
	ByOldBooted
	// ByFirmware: the UEFI boot entry the firmware started (BootCurrent),
	// a kernel it started itself, with the running command line.
	ByFirmware
	// ByKernel: an entry whose kernel is the running kernel.
	ByKernel
)

// How says how Identify knew the running entry; String says it in words.
type How struct {
	By By
	// Cmdline is set when the entry's command line is the running one
	// (always for ByFirmware; ByBooted's record is what was booted).
	Cmdline bool
	text    string
}

func (h How) String() string { return h.text }

// Identify returns the entry running under root, with what it boots:
// booted.json's entry when warmboot booted this system (its Boots), else
// the UEFI boot entry the firmware started (BootCurrent) when it is a
// kernel the firmware started itself, the running one with the running
// command line (coldpath.BootEntry), else
// the entry of m whose kernel is the running kernel (Version) and whose
// command line is /proc/cmdline; of several, the one whose kernel file is
// GRUB's BOOT_IMAGE, then the last in menu order (GRUB's per-kernel
// "advanced" entries follow its floating "simple" one). how says which.
func Identify(root string, m choose.Menu, sums *sumcache.Cache) (ref state.Ref, how How, err error) {
	b, err := handoff.ReadBooted(root)
	if err == nil && b.Boots != "" {
		return state.Ref{ID: b.Entry, Source: b.Source, Boots: b.Boots}, How{By: ByBooted, Cmdline: true, text: "booted.json: warmboot booted it"}, nil
	}
	if err != nil {
		if ref, how, ok := byBootCurrent(root, sums); ok {
			return ref, how, nil
		}
	}
	// No record, or one from an image before it said what it booted
	// (its id may now boot another kernel): by the running kernel.
	ref, how, ierr := byKernel(root, m, sums)
	if ierr != nil && err == nil {
		return state.Ref{ID: b.Entry, Source: b.Source}, How{By: ByOldBooted, text: "booted.json of an older warmboot, which does not say what it booted (" + ierr.Error() + ")"}, nil
	}
	return ref, how, ierr
}

// byBootCurrent is the UEFI boot entry the firmware started at this
// power-on (BootCurrent) when it is a Linux kernel the firmware started
// itself (coldpath.BootEntry) and is what runs: the running kernel's
// build, with exactly the command line the firmware passes (initrd=
// included). BootCurrent outlives a kexec: a kernel kexec'd since has
// another command line (a config's, or a trial's panic=N), and is not
// that entry.
func byBootCurrent(root string, sums *sumcache.Cache) (ref state.Ref, how How, ok bool) {
	stub, err := coldpath.CurrentEntry(root)
	if err != nil {
		return state.Ref{}, How{}, false
	}
	e := stub.Entry
	rel, build, err := runningBuild(root)
	if err != nil {
		return state.Ref{}, How{}, false
	}
	r, b, ok := kernelBuild(e)
	cmdline, _ := os.ReadFile(filepath.Join(root, "proc/cmdline"))
	if !ok || r != rel || b != build || !slices.Equal(strings.Fields(stub.Options), strings.Fields(string(cmdline))) {
		return state.Ref{}, How{}, false
	}
	ref, err = coldpath.RefOf(e, sums)
	if err != nil {
		return state.Ref{}, How{}, false
	}
	return ref, How{By: ByFirmware, Cmdline: true, text: fmt.Sprintf("the firmware started it: BootCurrent is %s %q, whose kernel is the running kernel (%s) and whose command line the running one", e.ID, e.Label, rel)}, true
}

// byKernel is the entry of m whose kernel is the running kernel (Identify).
func byKernel(root string, m choose.Menu, sums *sumcache.Cache) (ref state.Ref, how How, err error) {
	rel, build, err := runningBuild(root)
	if err != nil {
		return state.Ref{}, How{}, err
	}
	cmdline, _ := os.ReadFile(filepath.Join(root, "proc/cmdline"))
	bootImage := param(string(cmdline), "BOOT_IMAGE")
	if i := strings.IndexByte(bootImage, ')'); strings.HasPrefix(bootImage, "(") && i > 0 {
		bootImage = bootImage[i+1:] // GRUB's "(hd0,gpt2)/vmlinuz-..."
	}
	want := strip(string(cmdline))
	best, score := -1, 0
	for i, e := range m.Entries {
		if r, b, ok := kernelBuild(e); !ok || r != rel || b != build {
			continue
		}
		s := 1
		if strip(e.Cmdline) == want {
			s += 2
		}
		if bootImage != "" && path.Clean(bootImage) == e.Kernel {
			s++
		}
		if s >= score {
			best, score = i, s
		}
	}
	if best < 0 {
		return state.Ref{}, How{}, fmt.Errorf("%w: no entry's kernel is %s %s", ErrUnknown, rel, build)
	}
	e := m.Entries[best]
	k, ins, err := kexec.Digests(e, sums)
	if err != nil {
		return state.Ref{}, How{}, err
	}
	how = How{By: ByKernel, Cmdline: score >= 3, text: "its kernel is the running kernel (" + rel + ")"}
	if how.Cmdline {
		how.text += " and its command line the running one"
	}
	return state.Ref{ID: e.ID, Source: e.Source, Boots: state.EntryBoots(e, k, ins, e.Cmdline)}, how, nil
}

// runningBuild is the running kernel's release and build, from
// /proc/version.
func runningBuild(root string) (release, build string, err error) {
	ver, err := os.ReadFile(filepath.Join(root, "proc/version"))
	if err != nil {
		return "", "", err
	}
	release, build, ok := split(strings.TrimPrefix(strings.TrimSpace(string(ver)), "Linux version "))
	if !ok {
		return "", "", fmt.Errorf("%w: /proc/version %q has no build (#N ...)", ErrUnknown, ver)
	}
	return release, build, nil
}

// kernelBuild is the release and build of entry e's kernel, from its
// setup header (Version).
func kernelBuild(e entry.Entry) (release, build string, ok bool) {
	v, err := Version(filepath.Join(e.Root, e.Kernel))
	if err != nil {
		return "", "", false
	}
	return split(v)
}

// split cuts a kernel version string into its release and its build
// (from " #" on).
func split(v string) (release, build string, ok bool) {
	release, _, _ = strings.Cut(v, " ")
	i := strings.Index(v, " #")
	if release == "" || i < 0 {
		return "", "", false
	}
	return release, v[i+1:], true
}

// param is the value of parameter k on cmdline.
func param(cmdline, k string) string {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, k+"="); ok {
			return v
		}
	}
	return ""
}

// strip is cmdline without the Added parameters, fields single-spaced.
func strip(cmdline string) string {
	var out []string
	for _, f := range strings.Fields(cmdline) {
		k, _, _ := strings.Cut(f, "=")
		if !slices.Contains(Added, k) {
			out = append(out, f)
		}
	}
	return strings.Join(out, " ")
}

// Version reads the kernel version string of the bzImage at file
// (ParseVersion of its setup code).
func Version(file string) (string, error) {
	f, err := os.Open(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	head := make([]byte, maxSetup)
	n, err := io.ReadFull(f, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	v, err := ParseVersion(head[:n])
	if err != nil {
		return "", fmt.Errorf("%s: %w", file, err)
	}
	return v, nil
}

// maxSetup bounds the setup code read: at most 127 sectors of 512 bytes
// follow the boot sector (setup_sects is a byte; 0x7f is its largest
// value any kernel uses), so the version string is in the first 64 KiB.
const maxSetup = 64 << 10

// ParseVersion returns the kernel version string in head, the start of
// a bzImage: the setup header's kernel_version (offset 0x20e), less
// 0x200, points at a NUL-terminated string in the setup code.
func ParseVersion(head []byte) (string, error) {
	if len(head) < 0x210 || string(head[0x202:0x206]) != "HdrS" {
		return "", errors.New("not a bzImage (no HdrS setup header)")
	}
	off := int(binary.LittleEndian.Uint16(head[0x20e:])) + 0x200
	if off >= len(head) {
		return "", errors.New("its kernel version string lies past its setup code")
	}
	end := min(len(head), off+256)
	s, _, ok := bytes.Cut(head[off:end], []byte{0})
	if !ok || len(s) == 0 {
		return "", errors.New("no kernel version string")
	}
	return string(s), nil
}
