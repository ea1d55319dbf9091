// Package coldpath says what this machine's firmware starts on a cold boot
// (a reset, a power cycle), as the running system can tell, and makes
// that loader boot a given entry once: the part of a trial that a reset
// goes through. A trial's panic=N and watchdog reset the machine; what
// boots then is whatever the firmware starts. When that is warmboot, its
// own state boots the fallback (package trial). When it is GRUB, as on
// most servers, GRUB boots its default, which after a kernel upgrade is the
// new kernel that just failed, without panic=N or a watchdog: so before
// the kexec into a trial, GRUB's one-shot next_entry is set to the
// fallback, as grub-reboot sets it, and GRUB's own config (00_header:
// "if [ "${next_entry}" ]; then set default=...; save_env next_entry")
// boots it once and clears it. When it is systemd-boot, LoaderEntryOneShot
// names the fallback's BLS entry, as "bootctl set-oneshot" sets it. When
// the firmware starts the kernel itself (a UEFI boot entry naming an
// EFI-stub kernel, its command line in the entry: BootEntry), BootNext
// names the entry that boots the fallback, as "efibootmgr -n" sets it.
// "warmboot bless" takes any of them back when the trial comes up
// (Disarm).
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

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
)

// Loader is a boot loader the firmware can start.
type Loader string

// The loaders told apart. Unknown is none of them, or no way to tell.
const (
	Warmboot    Loader = "warmboot"
	GRUB        Loader = "grub"
	SystemdBoot Loader = "systemd-boot"
	// FirmwareEntry: the firmware starts a Linux kernel itself, by its
	// EFI stub, from a UEFI boot entry (BootEntry).
	FirmwareEntry Loader = "uefi-entry"
	Unknown       Loader = ""
)

// Path is what a cold boot of the machine starts.
type Path struct {
	Loader Loader
	// How says how it was found, for people.
	How string
	// Dir is GRUB's directory on the running system ("/boot/grub"),
	// where its grub.cfg and grubenv are.
	Dir string
	// Entry is the boot entry (Boot####) a FirmwareEntry path started
	// at this power-on: BootCurrent.
	Entry uint16
}

func (p Path) String() string {
	if p.Loader == Unknown {
		return "unknown (" + p.How + ")"
	}
	return string(p.Loader) + " (" + p.How + ")"
}

// efiVars is where the running system reads UEFI variables.
const efiVars = "sys/firmware/efi/efivars"

// vars are the UEFI variables of the system under root.
func vars(root string) efivar.Vars { return efivar.Vars{Dir: filepath.Join(root, efiVars)} }

// loaderInfo is systemd's Boot Loader Interface variable systemd-boot
// sets at every boot; it outlives a kexec (a volatile variable lasts
// until the power cycle).
const loaderInfo = "LoaderInfo-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"

// Detect finds the cold path of the system under root. booted is this
// boot's record (nil when warmboot did not boot it): warmboot started by
// the firmware, or by a loader the firmware starts, records itself there,
// and the handoffs of later swaps carry it along (booted.json's Firmware).
//
// A chain warmboot's own boot entry started, whose entry is no longer
// first in BootOrder (warmboot efi-entry -remove, a grub-install since)
// has as cold path what BootOrder now starts first, when that is a
// loader or kernel warmboot knows.
func Detect(root string, booted *handoff.Booted) Path {
	var what Loader
	var how string
	var num uint16
	reordered := false
	if booted != nil && booted.Firmware == string(Warmboot) {
		if what, how, num, reordered = reorderedFrom(root); !reordered {
			return Path{Loader: Warmboot, How: "warmboot started this chain of boots without a handoff: the firmware starts it, or a loader the firmware starts"}
		}
	}
	grubDir := ""
	for _, d := range []string{"/boot/grub", "/boot/grub2"} {
		if st, err := os.Stat(filepath.Join(root, d, "grub.cfg")); err == nil && st.Mode().IsRegular() {
			grubDir = d
			break
		}
	}
	if _, err := os.Stat(filepath.Join(root, "sys/firmware/efi")); err == nil {
		if _, err := os.Stat(filepath.Join(root, efiVars, loaderInfo)); err == nil && !reordered {
			return Path{Loader: SystemdBoot, How: "UEFI: systemd-boot set LoaderInfo at this power-on"}
		}
		if !reordered {
			what, how, num = bootCurrent(root)
		}
		switch {
		case what == FirmwareEntry:
			return Path{Loader: FirmwareEntry, How: how, Entry: num}
		case what == Unknown && how != "":
			// BootCurrent names a program that is no loader warmboot
			// knows: the ESP's other programs are not what the
			// firmware starts.
			return Path{How: how}
		case what == Unknown:
			what, how = sniffESP(root)
		}
		if what != Unknown {
			if what == GRUB && grubDir == "" {
				return Path{How: how + ", but no /boot/grub/grub.cfg or /boot/grub2/grub.cfg"}
			}
			if !strings.HasPrefix(how, "UEFI") {
				how = "UEFI: " + how
			}
			return Path{Loader: what, How: how, Dir: grubDir}
		}
		return Path{How: "UEFI, and no boot program on a mounted ESP that warmboot knows"}
	}
	if grubDir != "" {
		return Path{Loader: GRUB, How: "BIOS, and GRUB's config " + path.Join(grubDir, "grub.cfg"), Dir: grubDir}
	}
	return Path{How: "BIOS, no GRUB config in /boot/grub or /boot/grub2, and warmboot did not start this chain of boots"}
}

// bootCurrent names the loader of the boot option the firmware started at
// this power-on (BootCurrent, a volatile variable a kexec keeps), by its
// file: shim or GRUB, systemd-boot, warmboot, or a Linux kernel the
// firmware starts itself (FirmwareEntry); Unknown with no words when it
// names no file or the removable-media default EFI/BOOT/BOOTX64.EFI
// (sniffESP looks at it) or the variables cannot be read, and with its
// reason when it names another program (a UKI, another loader) or one
// that cannot be found.
func bootCurrent(root string) (Loader, string, uint16) {
	n, err := efivar.BootCurrent(vars(root))
	if err != nil {
		return Unknown, "", 0
	}
	return bootOption(root, n, "BootCurrent")
}

// reorderedFrom is what BootOrder starts first when warmboot's own boot
// entry started this chain at power-on (BootCurrent names it, or names an
// entry since removed) and another entry is first now: a loader or a
// kernel warmboot knows (GRUB, systemd-boot, FirmwareEntry). ok is false
// otherwise, the chain's record then standing.
func reorderedFrom(root string) (what Loader, how string, num uint16, ok bool) {
	v := vars(root)
	cur, err := efivar.BootCurrent(v)
	if err != nil {
		return Unknown, "", 0, false
	}
	order, err := efivar.BootOrder(v)
	if err != nil || len(order) == 0 || order[0] == cur {
		return Unknown, "", 0, false
	}
	if _, err := efivar.ReadBootOption(v, cur); err == nil {
		if l, _, _ := bootOption(root, cur, "BootCurrent"); l != Warmboot {
			return Unknown, "", 0, false // a loader that starts warmboot
		}
	}
	switch what, how, num = bootOption(root, order[0], "BootOrder's first"); what {
	case GRUB, SystemdBoot, FirmwareEntry:
		return what, how + " (warmboot's entry, which started this chain of boots, is no longer first)", num, true
	}
	return Unknown, "", 0, false
}

// bootOption names the loader boot option n starts (bootCurrent), role
// saying which it is.
func bootOption(root string, n uint16, role string) (Loader, string, uint16) {
	o, err := efivar.ReadBootOption(vars(root), n)
	if err != nil {
		return Unknown, "", 0
	}
	file := o.File()
	base := strings.ToLower(file[strings.LastIndexAny(file, `\/`)+1:])
	how := fmt.Sprintf("UEFI: %s is %s %q, %s", role, efivar.BootOptionName(n), o.Description, file)
	switch {
	case strings.Contains(strings.ToLower(o.Description), "warmboot") || strings.Contains(base, "warmboot"):
		return Warmboot, how, n
	case strings.HasPrefix(base, "systemd-boot"):
		return SystemdBoot, how, n
	case strings.HasPrefix(base, "shim") || strings.HasPrefix(base, "grub"):
		return GRUB, how, n
	case base == "" || strings.EqualFold(file, `\EFI\BOOT\BOOTX64.EFI`):
		return Unknown, "", 0
	}
	switch _, err := BootEntry(root, n); {
	case err == nil:
		return FirmwareEntry, how + ", a Linux kernel the firmware starts itself", n
	case errors.Is(err, ErrNotKernel):
		return Unknown, how + ", which warmboot does not know", 0
	default:
		return Unknown, how + ": " + err.Error(), 0
	}
}

// sniffESP names the loader the ESP's boot programs are: the distribution's
// own (EFI/<vendor>/shimx64.efi, grubx64.efi, systemd-bootx64.efi), else
// the removable-media default EFI/BOOT/BOOTX64.EFI by its contents.
func sniffESP(root string) (Loader, string) {
	for _, mp := range state.ESPMounts {
		esp := filepath.Join(root, mp)
		if !state.IsESP(os.DirFS(esp)) {
			continue
		}
		vendors, _ := filepath.Glob(filepath.Join(esp, "[Ee][Ff][Ii]", "*", "*.[Ee][Ff][Ii]"))
		for _, f := range vendors {
			base := strings.ToLower(filepath.Base(f))
			dir := strings.ToLower(filepath.Base(filepath.Dir(f)))
			rel := hostPath(root, f)
			switch {
			case dir == "boot" || dir == "linux":
			case strings.HasPrefix(base, "systemd-boot"):
				return SystemdBoot, rel
			case strings.HasPrefix(base, "shim") || strings.HasPrefix(base, "grub"):
				return GRUB, rel
			}
		}
		for _, f := range vendors {
			if strings.EqualFold(filepath.Base(filepath.Dir(f)), "boot") {
				if l := sniff(f); l != Unknown {
					return l, hostPath(root, f) + " is " + string(l)
				}
			}
		}
	}
	return Unknown, ""
}

// hostPath is file, under root, as the running system names it.
func hostPath(root, file string) string {
	rel, err := filepath.Rel(root, file)
	if err != nil {
		return file
	}
	return "/" + filepath.ToSlash(rel)
}

// sniff names the loader an EFI program is by the strings it holds.
func sniff(file string) Loader {
	f, err := os.Open(file)
	if err != nil {
		return Unknown
	}
	defer f.Close()
	b, _ := io.ReadAll(io.LimitReader(f, 16<<20))
	switch {
	case bytes.Contains(b, []byte("#### LoaderInfo: systemd-boot")):
		return SystemdBoot
	case bytes.Contains(b, []byte("GNU GRUB")) || bytes.Contains(b, []byte("grub_")) || bytes.Contains(b, []byte("shim")):
		return GRUB
	case bytes.Contains(b, []byte("warmboot")):
		return Warmboot
	}
	return Unknown
}

// ErrNoOneShot says the loader cannot be made to boot an entry once.
var ErrNoOneShot = errors.New("cannot make the firmware's loader boot the fallback once")

// Plan says how the loader p names is made to boot fallback once, the
// next time the firmware starts it, changing nothing (Set does it): for
// GRUB, next_entry in its environment block, naming the entry of m that
// boots what fallback boots (its menu path); for systemd-boot,
// LoaderEntryOneShot naming such a BLS entry; for a firmware that starts
// kernels itself, BootNext naming the boot entry that boots it. boots says what an entry of
// m boots (state.Boots; "" when it cannot be read). Warmboot needs
// nothing (its state holds the trial): nil is returned.
func Plan(root string, p Path, m choose.Menu, fallback state.Ref, boots func(i int) string) (*state.OneShot, error) {
	switch p.Loader {
	case Warmboot:
		return nil, nil
	case GRUB:
	case SystemdBoot:
		return planSystemdBoot(m, fallback, boots)
	case FirmwareEntry:
		return planBootNext(root, p, fallback)
	default:
		return nil, fmt.Errorf("%w: the firmware's loader is not known: %s", ErrNoOneShot, p.How)
	}
	cfg, err := os.ReadFile(filepath.Join(root, p.Dir, "grub.cfg"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoOneShot, err)
	}
	if !bytes.Contains(cfg, []byte("next_entry")) {
		return nil, fmt.Errorf("%w: %s does not read next_entry (it was not written by grub-mkconfig's 00_header): run update-grub", ErrNoOneShot, path.Join(p.Dir, "grub.cfg"))
	}
	e, ok := grubEntry(m, fallback, boots, path.Join(p.Dir, "grub.cfg"))
	if !ok {
		return nil, fmt.Errorf("%w: no entry of %s boots what %s boots (its kernel, initrds and command line)", ErrNoOneShot, path.Join(p.Dir, "grub.cfg"), fallback.String())
	}
	return &state.OneShot{Loader: string(GRUB), File: path.Join(p.Dir, "grubenv"), Var: "next_entry", Value: e.MenuPath}, nil
}

// Set sets the one-shot entry o (Plan's): GRUB's environment block is
// rewritten in place, or created as grub-editenv creates it;
// systemd-boot's LoaderEntryOneShot is written as "bootctl set-oneshot"
// writes it, and UEFI's BootNext as "efibootmgr -n" does (non-volatile,
// boot and runtime access).
func Set(root string, o *state.OneShot) error {
	switch o.Loader {
	case string(FirmwareEntry):
		num, err := bootNum(o.Value)
		if err == nil {
			err = efivar.SetBootNext(vars(root), num)
		}
		if err != nil {
			return fmt.Errorf("%w: %v", ErrNoOneShot, err)
		}
		return nil
	case string(SystemdBoot):
		v := vars(root)
		if err := v.WriteString(o.Var, efivar.Loader, efivar.AttrPersistent, o.Value); err != nil {
			return fmt.Errorf("%w: %v", ErrNoOneShot, err)
		}
		return nil
	case string(GRUB):
	default:
		return fmt.Errorf("%w: %s", ErrNoOneShot, o)
	}
	return inRoot(root, func(r *os.Root) error { return SetEnv(r, o) })
}

// SetEnv sets GRUB's one-shot o in the environment block o.File under r
// (the filesystem holding it: the running system's root, or the device
// the bootloader remounted writable).
func SetEnv(r *os.Root, o *state.OneShot) error {
	if err := grubenv.EditFile(r, o.File, func(b []byte) ([]byte, error) { return grubenv.Set(b, o.Var, o.Value) }, true); err != nil {
		return fmt.Errorf("%w: %v", ErrNoOneShot, err)
	}
	return nil
}

func inRoot(dir string, f func(*os.Root) error) error {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer r.Close()
	return f(r)
}

// planSystemdBoot names, in systemd-boot's LoaderEntryOneShot, the BLS
// entry of m that boots what fallback boots: its id as systemd-boot
// knows it, the file name with ".conf" (a UKI's with ".efi" and its
// "@PROFILE") and without a boot counter, lower-cased (as "bootctl
// set-oneshot" takes it).
func planSystemdBoot(m choose.Menu, fallback state.Ref, boots func(int) string) (*state.OneShot, error) {
	best := -1
	for i, e := range m.Entries {
		if e.Format != entry.BLS || !strings.HasSuffix(e.Source.File, ".conf") && e.UKI == nil {
			continue
		}
		if fallback.Boots != "" && boots(i) != fallback.Boots || fallback.Boots == "" && e.ID != fallback.ID {
			continue
		}
		if best < 0 || e.ID == fallback.ID {
			best = i
		}
	}
	if best < 0 {
		return nil, fmt.Errorf("%w: no Boot Loader Specification entry boots what %s boots (systemd-boot boots only those)", ErrNoOneShot, fallback.String())
	}
	return &state.OneShot{Loader: string(SystemdBoot), Var: efivar.LoaderEntryOneShot, Value: bls.SystemdID(m.Entries[best])}, nil
}

// grubEntry is the entry of m read from the GRUB config cfg (on the
// running system) that boots what ref boots: ref's own entry when it
// still boots that, else the last such entry in menu order (GRUB's
// per-kernel entries follow its floating one).
func grubEntry(m choose.Menu, ref state.Ref, boots func(i int) string, cfg string) (entry.Entry, bool) {
	best := -1
	for i, e := range m.Entries {
		if e.Format != entry.GRUB || e.MenuPath == "" || !strings.HasSuffix(e.Source.File, cfg) {
			continue
		}
		b := boots(i)
		if ref.Boots != "" && b != ref.Boots || ref.Boots == "" && e.ID != ref.ID {
			continue
		}
		if e.ID == ref.ID {
			return e, true
		}
		best = i
	}
	if best < 0 {
		return entry.Entry{}, false
	}
	return m.Entries[best], true
}

// Disarm takes back a one-shot Set set, when it is still as Arm left it
// (GRUB has not used it up, nobody set another): "warmboot bless" on the
// trial that came up, or on the fallback GRUB booted where it could not
// clear it (XFS, btrfs). It says what it did.
func Disarm(root string, o *state.OneShot) (string, error) {
	switch {
	case o == nil:
		return "", nil
	case o.Loader == string(SystemdBoot):
		v := vars(root)
		switch cur, err := v.ReadString(o.Var, efivar.Loader); {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Sprintf("systemd-boot's one-shot %s=%q was used up", o.Var, o.Value), nil
		case err != nil:
			return "", err
		case cur != o.Value:
			return fmt.Sprintf("systemd-boot's %s is %q, set by someone else since warmswap set %q: left as it is", o.Var, cur, o.Value), nil
		}
		if err := v.Delete(o.Var, efivar.Loader); err != nil {
			return "", err
		}
		return fmt.Sprintf("cleared systemd-boot's one-shot %s=%q", o.Var, o.Value), nil
	case o.Loader == string(FirmwareEntry):
		return disarmBootNext(root, o)
	case o.Loader != string(GRUB):
		return "", nil
	}
	if o.Device != "" {
		mp, ok, err := discover.MountOf(root, o.Device)
		switch {
		case err != nil:
			return "", err
		case !ok:
			return "", fmt.Errorf("/dev/%s, which holds %s, is not mounted", o.Device, o.File)
		}
		root = filepath.Join(root, mp)
	}
	said := ""
	err := inRoot(root, func(r *os.Root) error {
		return grubenv.EditFile(r, o.File, func(b []byte) ([]byte, error) {
			vars, err := grubenv.Map(b)
			if err != nil {
				return nil, err
			}
			switch v, ok := vars[o.Var]; {
			case !ok || v == "":
				said = fmt.Sprintf("GRUB's one-shot %s=%q was used up", o.Var, o.Value)
				return b, nil
			case v != o.Value:
				said = fmt.Sprintf("GRUB's %s is %q, set by someone else since warmswap set %q: left as it is", o.Var, v, o.Value)
				return b, nil
			}
			said = fmt.Sprintf("cleared GRUB's one-shot %s=%q in %s", o.Var, o.Value, entry.Source{Device: o.Device, File: o.File})
			return grubenv.Unset(b, o.Var)
		}, false)
	})
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("%s is gone: nothing to clear", o.File), nil
	}
	return said, err
}

// ClearHint is the command that clears o by hand.
func ClearHint(o *state.OneShot) string {
	switch o.Loader {
	case string(SystemdBoot):
		return "bootctl set-oneshot \"\""
	case string(FirmwareEntry):
		return "efibootmgr --delete-bootnext"
	}
	return fmt.Sprintf("grub-editenv %s unset %s", o.File, o.Var)
}

// Pending says whether a one-shot of o's loader is already set to another
// value than o's, by someone else (an operator's grub-reboot, bootctl
// set-oneshot or efibootmgr -n; fwupd's BootNext for a firmware update):
// Set would replace it, and the boot it asks for would never happen.
// It returns that value, "" when none is set or it is o's own.
func Pending(root string, o *state.OneShot) (string, error) {
	cur := ""
	switch o.Loader {
	case string(GRUB):
		b, err := os.ReadFile(filepath.Join(root, o.File))
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		vars, err := grubenv.Map(b)
		if err != nil {
			return "", fmt.Errorf("%s: %w", o.File, err)
		}
		cur = vars[o.Var]
	case string(SystemdBoot):
		s, err := vars(root).ReadString(o.Var, efivar.Loader)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", err
		}
		cur = s
	case string(FirmwareEntry):
		n, err := efivar.BootNext(vars(root))
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return "", err
		default:
			cur = efivar.BootOptionName(n)
		}
	}
	if cur == o.Value {
		return "", nil
	}
	return cur, nil
}
