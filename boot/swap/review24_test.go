package swap

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/inventory"
	"github.com/warmboot/warmboot/boot/restart"
	"github.com/warmboot/warmboot/boot/state"
)

// REVIEW 24: on a machine whose firmware starts GRUB, a warm swap to gx
// sets GRUB's next_entry to the fallback gb (the trial's protection).
// gx comes up, its device check fails, and bless returns before it
// clears that one-shot. "warmboot bless -on-device-loss=restart" then
// runs "warmswap -mode firmware -unprotected -entry gx": protect finds
// next_entry already set (by warmswap's own trial), takes it for "a boot
// someone else asked for", and -unprotected lets the reboot go without
// setting gx. GRUB boots gb, the old kernel, not "the same entry"; the
// trial is then recorded failed and counted a fallback.
func TestReview24FirmwareRestartAfterGRUBTrial(t *testing.T) {
	root := grubColdPath(t)
	// A second GRUB entry gx, another kernel.
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	kx := append([]byte(nil), k...)
	copy(kx[0x500:], "6.12.0-1-amd64 (x) #1 SMP Debian 6.12.1-1\x00")
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-x"), kx, 0o644)
	cfg, _ := os.ReadFile(filepath.Join(root, "boot/grub/grub.cfg"))
	cfg = []byte(strings.Replace(string(cfg), "submenu 'Advanced' --id adv {\n", "submenu 'Advanced' --id adv {\nmenuentry 'X' --id gx {\n  linux /boot/vmlinuz-x\n  initrd /boot/initrd.img\n}\n", 1))
	os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), cfg, 0o644)

	// Step 1: the kexec swap to gx from gb; GRUB next_entry = gb.
	p, err := Preflight(env(root), Request{Entry: "gx"})
	if err != nil {
		t.Fatal(err)
	}
	tr := p.Trial
	if tr.OneShot == nil || tr.OneShot.Value != "adv>gb" {
		done(p)
		t.Fatalf("trial one-shot = %+v; want next_entry=adv>gb", tr.OneShot)
	}
	if err := tr.Commit(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	done(p)
	// Step 2: warmboot booted gx (a trial, gb its fallback, the GRUB
	// one-shot still set: bless never ran to clear it).
	os.MkdirAll(filepath.Join(root, "run/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":2,"entry":"gx","boots":"`+tr.Target.Boots+`","by":"warmboot","firmware":"grub"}`), 0o644)
	st := tr.State
	st.Trial = &state.Attempt{Entry: tr.Target, By: "warmboot", At: env(root).Now(), Fallback: tr.Fallback, Firmware: tr.OneShot}
	st.Next = nil
	r, _ := os.OpenRoot(root)
	defer r.Close()
	if err := state.Save(r, strings.TrimPrefix(state.HostFile(root), "/"), st); err != nil {
		t.Fatal(err)
	}
	// Step 3: the device check failed: bless runs the restart.
	p, err = Preflight(env(root), Request{Entry: "gx", Mode: restart.Firmware, Unprotected: true, Reason: "device check failed after a kexec"})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Trial.Commit(slog.New(slog.DiscardHandler)); err != nil {
		t.Fatal(err)
	}
	done(p)
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	vars, _ := grubenv.Map(blk)
	if vars["next_entry"] != "adv>gx" {
		t.Errorf("after the restart through the firmware into gx, GRUB's next_entry = %q: GRUB boots that, not gx (warnings %q)", vars["next_entry"], p.Warnings)
	}
}

// REVIEW 24: the swap bounds the handoff record (MaxRecord) with the
// device check in it, but the booted system's booted.json carries the
// whole record (Booted.Handoff) plus its own fields, re-indented one
// level deeper, under the same bound. A record that passes the swap's
// check yields a booted.json ParseBooted refuses: bless then has no
// record (no device check, the running entry by its kernel only, a
// handed kernel not known at all).
func TestReview24BootedOutgrowsRecord(t *testing.T) {
	inv := inventory.Inventory{Version: inventory.Version}
	r := handoff.Record{Version: handoff.Version, Entry: "debian-6.12", Reason: "warmswap", From: "h 6.12"}
	for i := 0; ; i++ {
		inv.PCI = append(inv.PCI, inventory.Function{Address: fmt.Sprintf("0000:%02x:%02x.%d", i/256, (i/8)%32, i%8), ID: "8086:1234", Class: "0x060400", Driver: "pcieport"})
		r.Check = &handoff.DeviceCheck{Inventory: inv, Kernel: strings.Repeat("ab", 32)}
		data, _ := r.Marshal()
		if len(data) > handoff.MaxRecord-2048 {
			break
		}
	}
	data, _ := r.Marshal()
	if len(data) > handoff.MaxRecord {
		t.Fatalf("record %d bytes", len(data))
	}
	// What the bootloader writes for the boot it makes.
	b := handoff.Booted{Entry: "debian-6.12", Label: "Debian", Boots: strings.Repeat("c", 64), Kernel: strings.Repeat("ab", 32), By: "warmboot", Firmware: "warmboot", Handoff: &r,
		Timeline: []byte(`{"phases":[{"name":"discover","ms":500},{"name":"load","ms":1500}]}`)}
	bd, _ := b.Marshal()
	if _, err := handoff.ParseBooted(bd); err != nil {
		t.Errorf("record of %d bytes, %d PCI functions (under MaxRecord, kept by the swap) gives a booted.json of %d bytes: %v", len(data), len(inv.PCI), len(bd), err)
	}
}

// REVIEW 24: -direct puts the device check into booted.json with no
// bound at all (the bootloader path drops it past MaxRecord, with a
// warning): a machine with many devices gets a booted.json its own bless
// cannot read.
func TestReview24DirectBootedTooLarge(t *testing.T) {
	root := system(t, "")
	inv := inventory.Inventory{Version: inventory.Version}
	for i := range 450 {
		inv.PCI = append(inv.PCI, inventory.Function{Address: fmt.Sprintf("0000:%02x:%02x.%d", i/256, (i/8)%32, i%8), ID: "8086:1234", Class: "0x060400", Driver: "pcieport"})
	}
	e := env(root)
	e.Inventory = func() inventory.Inventory { return inv }
	p, err := Preflight(e, Request{Entry: "a", Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	data := segment(t, p.Image)[".warmboot/booted.json"]
	done(p)
	if _, err := handoff.ParseBooted(data); err != nil {
		t.Errorf("-direct with %d PCI functions staged a booted.json of %d bytes its bless cannot read (%v); warnings %q", len(inv.PCI), len(data), err, p.Warnings)
	}
}

// REVIEW 24: one bad line in kexec-unsafe.json (a digest an operator
// pasted in upper case) makes the whole record unreadable, and the swap
// only warns: the kernel the record says lost a NIC is kexec'd again
// under -mode auto. (And the next bless that records a loss replaces the
// file, dropping every kernel in it.)
func TestReview24CorruptUnsafeFailsOpen(t *testing.T) {
	root := system(t, "")
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	sum := fmt.Sprintf("%x", sha256.Sum256(k))
	rec := `{"version":1,"kernels":[{"kernel":"` + sum + `","devices":["net/eth0: gone"],"at":"2026-11-01T00:00:00Z"},` +
		`{"kernel":"` + strings.ToUpper(strings.Repeat("ab", 32)) + `","devices":["net/eth1: gone"],"at":"2026-11-02T00:00:00Z"}]}`
	os.MkdirAll(filepath.Join(root, "var/lib/warmboot"), 0o755)
	os.WriteFile(filepath.Join(root, restart.UnsafeFile), []byte(rec), 0o644)
	p, err := Preflight(env(root), Request{Entry: "a"})
	if err != nil {
		t.Logf("refused: %v", err)
		return
	}
	done(p)
	if p.Mode != Reboot {
		t.Errorf("a kernel recorded kexec-unsafe, in a record with one bad line: mode %s (warnings %q); want the firmware (or a refusal)", p.Mode, p.Warnings)
	}
}

// REVIEW 24: the device check of this boot failed (bless exited 3 with
// -on-device-loss=fail, the default of "warmboot bless" and of
// "warmswap -commit"; its result is in /run/warmboot/device-check.json).
// The operator, or the orchestrator's rollback, swaps back to the old
// entry: -mode auto kexecs, from a machine whose NIC is wedged. The
// inventory taken now no longer has the NIC's carrier, so the check after
// that kexec cannot fail either: the old entry is blessed with the NIC
// still dead. Only the firmware brings it back.
func TestReview24SwapFromFailedCheckKexecs(t *testing.T) {
	root := system(t, "")
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), []byte(`{"version":2,"entry":"b","boots":"`+strings.Repeat("c", 64)+`","by":"warmboot","firmware":"warmboot"}`), 0o644)
	os.WriteFile(filepath.Join(root, "run/warmboot/device-check.json"), []byte(`{"ok":false,"lost":["net/enp0s3: link enp0s3 (52:54:00:12:34:56) is gone; it had carrier before"]}`), 0o644)
	p, err := Preflight(env(root), Request{Entry: "a"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Mode != Reboot {
		t.Errorf("swap from a boot whose device check failed: mode %s (%s); want through the firmware", p.Mode, p.Restart)
	}
}
