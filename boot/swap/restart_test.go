package swap

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/inventory"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/state"
)

// hasCheck says the plan's checks include what: result with want in it.
func hasCheck(p *Plan, what, want string) bool {
	for _, c := range p.Checks {
		if c.What == what && strings.Contains(c.Result, want) {
			return true
		}
	}
	return false
}

// On a machine GRUB booted (the running entry gb known by its kernel),
// -mode auto to the running entry soft-reboots when systemd can: nothing
// is staged, no trial; where systemd cannot, it kexecs, and says why. To
// another entry it kexecs. -mode soft to another entry is refused.
func TestPreflightSoft(t *testing.T) {
	root := grubColdPath(t)
	e := env(root)
	e.SoftReboot = true
	p, err := Preflight(e, Request{Entry: "gb"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != Soft || p.Restart.Mode != restart.Soft || p.Image != nil || p.Trial != nil || p.Running == nil || p.Running.ID != "gb" {
		t.Fatalf("plan = %+v; want a soft reboot, nothing staged, no trial", p)
	}
	if !hasCheck(p, "mode", "soft: the target boots the running kernel") {
		t.Errorf("checks %v do not say why soft", p.Checks)
	}
	e.SoftReboot = false
	p, err = Preflight(e, Request{Entry: "gb"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != ViaBootloader || !hasCheck(p, "mode", "cannot soft-reboot") {
		t.Errorf("plan = %+v, checks %v; want a kexec, said why", p, p.Checks)
	}
	e.SoftReboot = true
	p, err = Preflight(e, Request{Entry: "A"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != ViaBootloader || !hasCheck(p, "mode", "another kernel, initrd or command line") {
		t.Errorf("plan = %+v; want a kexec to another entry", p)
	}
	if _, err := Preflight(e, Request{Entry: "A", Mode: restart.Soft}); err == nil || !strings.Contains(err.Error(), "mode: -mode soft restarts userspace only") {
		t.Errorf("-mode soft to another entry: %v", err)
	}
	if _, err := Preflight(e, Request{NoRecord: true, Mode: restart.Soft}); err == nil || !strings.Contains(err.Error(), "-load") {
		t.Errorf("-load -mode soft: %v", err)
	}
	// A parameter added to the entry since this boot: the running entry
	// is known by its kernel alone, not taken for what runs: kexec.
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("BOOT_IMAGE=/boot/vmlinuz wbtest=1\n"), 0o644)
	p, err = Preflight(e, Request{Entry: "gb"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != ViaBootloader || !hasCheck(p, "mode", "another kernel, initrd or command line") {
		t.Errorf("after a parameter change, plan = %+v, checks %v; want a kexec", p.Mode, p.Checks)
	}
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("BOOT_IMAGE=/boot/vmlinuz\n"), 0o644)
	// An initrd rebuilt since this boot is not what runs: kexec.
	os.WriteFile(filepath.Join(root, "proc/uptime"), []byte("100.00 150.00\n"), 0o644)
	earlier, later := e.Now().Add(-time.Hour), e.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(root, "boot/vmlinuz"), earlier, earlier)
	os.Chtimes(filepath.Join(root, "boot/initrd.img"), later, later)
	p, err = Preflight(e, Request{Entry: "gb"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != ViaBootloader || len(p.Warnings) == 0 || !strings.Contains(strings.Join(p.Warnings, "\n"), "initrd.img changed since this boot") {
		t.Errorf("plan = %+v, warnings %v; want a kexec, the changed initrd said", p.Mode, p.Warnings)
	}
}

// -mode firmware reboots through the firmware into the target; a kernel
// recorded kexec-unsafe does too under -mode auto, and -mode kexec to it
// is refused, naming the record and the fix.
func TestPreflightFirmwareAndUnsafe(t *testing.T) {
	root := system(t, "")
	p, err := Preflight(env(root), Request{Entry: "a", Mode: restart.Firmware})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != Reboot || p.Image != nil || !strings.Contains(p.Why, "-mode firmware") || p.Trial == nil || p.Trial.State.Next == nil || p.Trial.State.Next.Entry.ID != "a" {
		t.Fatalf("plan = %+v; want a firmware reboot into a, as the one-shot entry", p)
	}
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	sum := sha256.Sum256(k)
	u := restart.Unsafe{}
	u.Add(restart.UnsafeKernel{Kernel: hex.EncodeToString(sum[:]), Release: "6.1.0-57-amd64", Devices: []string{"net/eth0: link eth0 (52:54:00:12:34:56) is gone"}, At: env(root).Now()})
	if err := restart.WriteUnsafe(root, u); err != nil {
		t.Fatal(err)
	}
	p, err = Preflight(env(root), Request{Entry: "a"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != Reboot || !strings.Contains(p.Why, "6.1.0-57-amd64") || !strings.Contains(p.Why, "through the firmware instead of kexec") {
		t.Errorf("plan = %+v; want a firmware reboot, the record said", p)
	}
	_, err = Preflight(env(root), Request{Entry: "a", Mode: restart.Kexec})
	if err == nil || !strings.Contains(err.Error(), "-mode kexec refused") || !strings.Contains(err.Error(), restart.UnsafeFile) || !strings.Contains(err.Error(), "warmswap -clear-unsafe") {
		t.Errorf("-mode kexec to an unsafe kernel: %v", err)
	}
}

// The devices before the kexec go with the handoff (through the
// bootloader) and with the booted record (-direct), with the kernel's
// digest; the plan says what was recorded.
func TestPreflightDeviceCheck(t *testing.T) {
	root := system(t, "")
	inv := inventory.Inventory{Version: inventory.Version, PCI: []inventory.Function{{Address: "0000:00:03.0", ID: "1af4:1041", Class: "0x020000", Driver: "virtio-pci"}},
		Net: []inventory.Link{{Name: "enp0s3", MAC: "52:54:00:12:34:56", Driver: "virtio_net", Carrier: true}}}
	e := env(root)
	e.Inventory = func() inventory.Inventory { return inv }
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	sum := sha256.Sum256(k)
	p, err := Preflight(e, Request{Entry: "a"})
	if err != nil {
		t.Fatal(err)
	}
	r, err := handoff.ParseRecord(segment(t, p.Image)[".warmboot/handoff.json"])
	done(p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Check == nil || r.Check.Kernel != hex.EncodeToString(sum[:]) || len(r.Check.Inventory.Net) != 1 || !r.Check.Inventory.Net[0].Carrier {
		t.Errorf("handoff's device check = %+v", r.Check)
	}
	if !hasCheck(p, "devices", "1 PCI functions with a driver, 1 links with carrier") {
		t.Errorf("checks %v do not say what was recorded", p.Checks)
	}
	p, err = Preflight(e, Request{Entry: "a", Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := handoff.ParseBooted(segment(t, p.Image)[".warmboot/booted.json"])
	done(p)
	if err != nil {
		t.Fatal(err)
	}
	if b.Kernel != hex.EncodeToString(sum[:]) || b.Handoff == nil || b.Handoff.Check == nil || b.Handoff.Entry != "a" || len(b.Handoff.Check.Inventory.PCI) != 1 {
		t.Errorf("-direct's booted record = %+v (handoff %+v)", b, b.Handoff)
	}
}

// A running entry on trial (a kexec whose device check failed) restarted
// through the firmware into itself keeps its trial's fallback.
func TestPreflightFirmwareKeepsTrialFallback(t *testing.T) {
	root := system(t, "")
	p, err := Preflight(env(root), Request{Entry: "a"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	a := p.Trial.Target
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":2,"entry":"a","boots":"`+a.Boots+`","by":"warmboot","firmware":"warmboot"}`), 0o644)
	old := &state.Ref{ID: "b", Boots: strings.Repeat("b", 64)}
	st := state.State{LastGood: old, Trial: &state.Attempt{Entry: a, By: "warmboot", Fallback: old, At: env(root).Now()}}
	r, _ := os.OpenRoot(root)
	defer r.Close()
	if err := state.Save(r, strings.TrimPrefix(state.HostFile(root), "/"), st); err != nil {
		t.Fatal(err)
	}
	p, err = Preflight(env(root), Request{Entry: "a", Mode: restart.Firmware, Reason: "device check"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if n := p.Trial.State.Next; n == nil || n.Entry.ID != "a" || n.Fallback == nil || n.Fallback.ID != "b" {
		t.Errorf("next = %+v; want a, falling back to b", p.Trial.State.Next)
	}
}

// Where the firmware starts GRUB, a firmware reboot into an entry makes
// GRUB boot it once (next_entry), and is unprotected: a failure comes
// back to GRUB's default. -unprotected lets it go, and Commit sets it.
func TestPreflightFirmwareGRUB(t *testing.T) {
	root := grubColdPath(t)
	_, err := Preflight(env(root), Request{Entry: "gb", Mode: restart.Firmware})
	if !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), `made to boot "gb" once (grub next_entry="adv>gb"`) {
		t.Fatalf("Preflight = %v; want unprotected: GRUB made to boot gb once", err)
	}
	// A, a BLS entry GRUB's config does not have: GRUB cannot be made to.
	if _, err := Preflight(env(root), Request{Entry: "A", Mode: restart.Firmware}); !errors.Is(err, ErrUnprotected) || !strings.Contains(err.Error(), `cannot be made to boot "a" once`) {
		t.Errorf("Preflight = %v; want unprotected: GRUB cannot boot A", err)
	}
	p, err := Preflight(env(root), Request{Entry: "gb", Mode: restart.Firmware, Unprotected: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Trial.Commit(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, err := grubenv.Map(blk); err != nil || vars["next_entry"] != "adv>gb" {
		t.Errorf("grubenv after Commit: %v, %v; want next_entry naming gb", vars, err)
	}
}

// Where the firmware starts GRUB and GRUB's default boots the running
// entry, a firmware reboot into another entry is protected: GRUB is made
// to boot it once, and a failure comes back to the default, the running
// entry.
func TestPreflightFirmwareGRUBProtected(t *testing.T) {
	root := grubColdPath(t)
	// GRUB's config alone, as on Debian.
	os.RemoveAll(filepath.Join(root, "boot/loader"))
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-x"), k, 0o644)
	cfg, _ := os.ReadFile(filepath.Join(root, "boot/grub/grub.cfg"))
	cfg = []byte(strings.Replace(string(cfg), "}\n}\n", "}\nmenuentry 'X' --id gx {\n  linux /boot/vmlinuz-x\n  initrd /boot/initrd.img\n}\n}\n", 1))
	os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), cfg, 0o644)
	p, err := Preflight(env(root), Request{Entry: "gx", Mode: restart.Firmware})
	if err != nil {
		t.Fatalf("Preflight = %v; want a protected firmware reboot", err)
	}
	done(p)
	if o := p.Trial.OneShot; o == nil || o.Value != "adv>gx" || p.Trial.Unprotected != nil {
		t.Errorf("one-shot %+v, unprotected %v", p.Trial.OneShot, p.Trial.Unprotected)
	}
}
