package coldpath

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/sumcache"
)

// ErrNotKernel says a UEFI boot entry does not boot a Linux kernel by
// its EFI stub (it starts a loader, a shell, the network).
var ErrNotKernel = errors.New("not a Linux kernel booted by the firmware")

// Stub is a UEFI boot entry that starts a Linux kernel by its EFI stub.
type Stub struct {
	// Entry is the kernel as a boot entry: its ID the variable's name
	// ("Boot0003"), its Label the entry's description, its Kernel and
	// Initrds paths on the ESP (mounted at Root), its Cmdline the
	// entry's command line without the initrd= parameters the stub
	// reads, which are its Initrds.
	entry.Entry
	// Options is the command line as the firmware passes it (the
	// kernel's /proc/cmdline when the firmware started it), initrd=
	// included.
	Options string
}

// BootEntry reads the UEFI boot entry Boot#### num under root as a boot
// entry: a Linux kernel the firmware starts itself through its EFI stub
// (efibootmgr -l '\EFI\debian\vmlinuz' -u 'initrd=\EFI\debian\initrd.img
// root=...'), its files found where the running system mounted the
// partition the entry names. An entry that starts anything but a Linux
// kernel is ErrNotKernel.
func BootEntry(root string, num uint16) (Stub, error) {
	name := efivar.BootOptionName(num)
	o, err := efivar.ReadBootOption(vars(root), num)
	if err != nil {
		return Stub{}, err
	}
	file := o.File()
	if file == "" {
		return Stub{}, fmt.Errorf("%s %q names no file: %w", name, o.Description, ErrNotKernel)
	}
	dir, dev, err := espOf(root, o.FilePath, file)
	if err != nil {
		return Stub{}, fmt.Errorf("%s %q: %w", name, o.Description, err)
	}
	e := entry.Entry{ID: name, Label: o.Description, Format: entry.Explicit, Root: filepath.Join(root, dir),
		Kernel: efiPath(file), Device: dev, Source: entry.Source{File: "/" + path.Join(efiVars, name+"-"+efivar.Global.String())}}
	if !isLinux(filepath.Join(e.Root, e.Kernel)) {
		return Stub{}, fmt.Errorf("%s %q starts %s, which is not a Linux kernel: %w", name, o.Description, hostPath(root, filepath.Join(e.Root, e.Kernel)), ErrNotKernel)
	}
	opts := optionString(o.OptionalData)
	var args []string
	for _, f := range strings.Fields(opts) {
		if v, ok := strings.CutPrefix(f, "initrd="); ok {
			e.Initrds = append(e.Initrds, efiPath(v))
			continue
		}
		args = append(args, f)
	}
	e.Cmdline = strings.Join(args, " ")
	return Stub{Entry: e, Options: opts}, nil
}

// BootsOf is what the boot entry e (BootEntry's) boots, as state.Boots
// knows an entry: its kernel's and initrds' digests and its command line.
func BootsOf(e entry.Entry, sums *sumcache.Cache) (string, error) {
	k, ins, err := kexec.Digests(e, sums)
	if err != nil {
		return "", err
	}
	return state.EntryBoots(e, k, ins, e.Cmdline), nil
}

// RefOf is the boot entry e as the state knows it.
func RefOf(e entry.Entry, sums *sumcache.Cache) (state.Ref, error) {
	b, err := BootsOf(e, sums)
	if err != nil {
		return state.Ref{}, err
	}
	return state.Ref{ID: e.ID, Source: e.Source, Boots: b}, nil
}

// efiPath is a firmware path (\EFI\debian\vmlinuz) as a path from the
// root of its filesystem (/EFI/debian/vmlinuz).
func efiPath(p string) string {
	return path.Clean("/" + strings.ReplaceAll(p, `\`, "/"))
}

// espOf is the directory (relative to root) where the running system
// mounted the partition that device path dp names, and its device: the
// partition by its GPT GUID (/dev/disk/by-partuuid: the partition
// itself, or the md array it is a member of, a mirrored ESP), else, only
// where the system has no /dev/disk/by-partuuid (no udev), the one
// mounted ESP (state.ESPMounts) holding file. A partition the machine
// does not have (a disk pulled from a mirror) is an error: the firmware
// could not start the entry either.
func espOf(root string, dp efivar.DevicePath, file string) (dir, dev string, err error) {
	byUUID := filepath.Join(root, "dev/disk/by-partuuid")
	for _, n := range dp {
		h, ok := n.HardDrive()
		if !ok || h.SignatureType != efivar.SignatureGUID {
			continue
		}
		guid := efivar.GUID(h.Signature).String()
		p, err := filepath.EvalSymlinks(filepath.Join(byUUID, guid))
		if err != nil {
			if _, derr := os.Stat(byUUID); derr == nil {
				return "", "", fmt.Errorf("its partition %s is not on this machine (no /dev/disk/by-partuuid/%s): the firmware cannot start it", guid, guid)
			}
			break
		}
		dev = filepath.Base(p)
		devs := []string{dev}
		holders, _ := os.ReadDir(filepath.Join(root, "sys/class/block", dev, "holders"))
		for _, h := range holders {
			devs = append(devs, h.Name())
		}
		for _, d := range devs {
			switch mp, ok, err := discover.MountOf(root, d); {
			case err != nil:
				return "", "", err
			case ok:
				return mp, d, nil
			}
		}
		return "", "", fmt.Errorf("its partition %s (/dev/%s) is not mounted: mount the ESP (/boot/efi)", guid, dev)
	}
	var found []string
	for _, mp := range state.ESPMounts {
		if !state.IsESP(os.DirFS(filepath.Join(root, mp))) {
			continue
		}
		if st, err := os.Stat(filepath.Join(root, mp, efiPath(file))); err == nil && st.Mode().IsRegular() {
			found = append(found, mp)
		}
	}
	switch len(found) {
	case 1:
		return found[0], "", nil
	case 0:
		return "", "", fmt.Errorf("%s is on no mounted ESP (%s): mount the ESP", file, strings.Join(state.ESPMounts, ", "))
	}
	return "", "", fmt.Errorf("%s is on more than one mounted ESP (%s), and its partition cannot be told by /dev/disk/by-partuuid", file, strings.Join(found, ", "))
}

// isLinux says whether file is a Linux kernel the firmware can start: a
// PE image ("MZ") with the x86 boot protocol's setup header ("HdrS" at
// 0x202), as every EFI-stub bzImage is.
func isLinux(file string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 0x206)
	if _, err := io.ReadFull(f, b); err != nil {
		return false
	}
	return bytes.Equal(b[:2], []byte("MZ")) && bytes.Equal(b[0x202:0x206], []byte("HdrS"))
}

// optionString is a boot entry's optional data as the EFI stub reads it:
// a UCS-2 command line, up to its NUL; data that is not such a string
// (odd-sized, or binary a loader reads) is none.
func optionString(b []byte) string {
	s, err := efivar.DecodeUTF16(b)
	if err != nil || strings.ContainsFunc(s, func(c rune) bool { return c < 0x20 && c != '\t' && c != '\n' }) {
		return ""
	}
	return s
}

// CurrentEntry is the boot entry the firmware started at this power-on
// (BootCurrent), when it starts a Linux kernel itself (BootEntry).
func CurrentEntry(root string) (Stub, error) {
	n, err := efivar.BootCurrent(vars(root))
	if err != nil {
		return Stub{}, err
	}
	return BootEntry(root, n)
}

// planBootNext names, in UEFI's BootNext, the boot entry that boots what
// fallback boots where the firmware starts kernels itself: the entry it
// started at this power-on (p.Entry, BootCurrent) when that is the one,
// else the first such in BootOrder. BootNext is used once: the firmware
// deletes it as it boots the entry.
func planBootNext(root string, p Path, fallback state.Ref) (*state.OneShot, error) {
	v := vars(root)
	order, err := efivar.BootOrder(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoOneShot, err)
	}
	var why []string
	for _, n := range append([]uint16{p.Entry}, order...) {
		s, err := BootEntry(root, n)
		e := s.Entry
		if err != nil {
			if n == p.Entry {
				why = append(why, err.Error())
			}
			continue
		}
		if fallback.Boots == "" {
			if e.ID == fallback.ID {
				return bootNext(n), nil
			}
			continue
		}
		b, err := BootsOf(e, nil)
		switch {
		case err != nil:
			why = append(why, fmt.Sprintf("%s: %v", e.ID, err))
		case b == fallback.Boots:
			return bootNext(n), nil
		}
	}
	if len(why) > 0 {
		return nil, fmt.Errorf("%w: no UEFI boot entry boots what %s boots (its kernel, initrds and command line): %s", ErrNoOneShot, fallback.String(), strings.Join(why, "; "))
	}
	return nil, fmt.Errorf("%w: no UEFI boot entry boots what %s boots (its kernel, initrds and command line)", ErrNoOneShot, fallback.String())
}

func bootNext(n uint16) *state.OneShot {
	return &state.OneShot{Loader: string(FirmwareEntry), Var: "BootNext", Value: efivar.BootOptionName(n)}
}

// bootNum is the number of a boot entry's variable name ("Boot0003").
func bootNum(name string) (uint16, error) {
	var n uint16
	if len(name) != 8 || !strings.HasPrefix(name, "Boot") {
		return 0, fmt.Errorf("%q is not a boot entry's name (Boot####)", name)
	}
	if _, err := fmt.Sscanf(name[4:], "%04X", &n); err != nil || efivar.BootOptionName(n) != name {
		return 0, fmt.Errorf("%q is not a boot entry's name (Boot####)", name)
	}
	return n, nil
}

// disarmBootNext takes back BootNext (Disarm) when it still names the
// entry Set named.
func disarmBootNext(root string, o *state.OneShot) (string, error) {
	want, err := bootNum(o.Value)
	if err != nil {
		return "", err
	}
	v := vars(root)
	switch cur, err := efivar.BootNext(v); {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Sprintf("UEFI BootNext=%s was used up", o.Value), nil
	case err != nil:
		return "", err
	case cur != want:
		return fmt.Sprintf("UEFI BootNext is %s, set by someone else since warmswap set %s: left as it is", efivar.BootOptionName(cur), o.Value), nil
	}
	if err := efivar.ClearBootNext(v); err != nil {
		return "", err
	}
	return fmt.Sprintf("cleared UEFI BootNext=%s", o.Value), nil
}
