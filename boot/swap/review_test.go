package swap

import (
	"encoding/binary"
	"github.com/warmboot/warmboot/boot/grubenv"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/efivar"
)

// bootctl writes one of systemd's Boot Loader Interface variables on the
// running system, as "bootctl set-default" does.
func bootctl(t *testing.T, root, name, value string) {
	t.Helper()
	dir := filepath.Join(root, "sys/firmware/efi/efivars")
	os.MkdirAll(dir, 0o755)
	if err := (efivar.Vars{Dir: dir}).WriteString(name, efivar.Loader, efivar.AttrPersistent, value); err != nil {
		t.Fatal(err)
	}
}

// REVIEW: the bootloader honours systemd's LoaderEntryDefault (bootctl
// set-default) as the configs' default (boot/loader/bli.go), but
// warmswap -load checks, and says it will boot, the configs' own default
// (nextboot.Of knows nothing of the variable): it verifies the wrong
// entry, and "plan: warmboot boots as from the firmware" names an entry
// the bootloader will not boot.
func TestReviewLoadHonoursLoaderEntryDefault(t *testing.T) {
	root := system(t, "off")
	bootctl(t, root, efivar.LoaderEntryDefault, "a.conf")
	p, err := Preflight(env(root), Request{NoRecord: true})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if p.Target.ID != "a" {
		t.Errorf("warmswap -load with LoaderEntryDefault=a.conf checks %q (%s); the bootloader boots %q", p.Target.ID, p.Next.Why(p.Menu), "a")
	}
}

// REVIEW: a warm swap records, as the configs' default its kept default
// gives way to (Attempt.Over, then Kept.Over), the configs' own default,
// while the bootloader compares it with the default after
// LoaderEntryDefault (loader.resolveState: m after loaderVars). With
// "bootctl set-default a.conf", warmswap -entry b, b comes up and bless
// keeps b over "b"; at the next reboot the bootloader sees the configs'
// default "a" != "b", says "the configs' default changed" and drops the
// kept default at once.
func TestReviewSwapOverHonoursLoaderEntryDefault(t *testing.T) {
	root := system(t, "off")
	bootctl(t, root, efivar.LoaderEntryDefault, "a.conf")
	p, err := Preflight(env(root), Request{Entry: "b"})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	n := p.Trial.State.Next
	if n == nil || n.Over == nil || n.Over.ID != "a" {
		t.Errorf("the swap's one-shot records the configs' default as %v; the bootloader takes %q for it (LoaderEntryDefault) and drops the default bless keeps at the first reboot", n.Over, "a")
	}
}

// grubSystem is TestPreflightGRUBColdPath's system: the firmware starts
// GRUB (no booted.json), GRUB booted entry gb, which boots /boot/vmlinuz.
func grubSystem(t *testing.T) string {
	t.Helper()
	root := system(t, "off")
	os.Remove(filepath.Join(root, "run/warmboot/booted.json"))
	os.MkdirAll(filepath.Join(root, "boot/grub"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/grub/grub.cfg"), []byte(`if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
fi
submenu 'Advanced' --id adv {
menuentry 'B' --id gb {
  linux /boot/vmlinuz
  initrd /boot/initrd.img
}
}
`), 0o644)
	os.WriteFile(filepath.Join(root, "proc/version"), []byte("Linux version 6.1.0-10-amd64 (x) (gcc) #1 SMP Debian 6.1.38-1\n"), 0o644)
	os.WriteFile(filepath.Join(root, "proc/cmdline"), []byte("BOOT_IMAGE=/boot/vmlinuz\n"), 0o644)
	k, _ := os.ReadFile(filepath.Join(root, "boot/vmlinuz"))
	binary.LittleEndian.PutUint16(k[0x20e:], 0x300)
	copy(k[0x500:], "6.1.0-10-amd64 (x) #1 SMP Debian 6.1.38-1\x00")
	os.WriteFile(filepath.Join(root, "boot/vmlinuz"), k, 0o644)
	return root
}

// REVIEW: -direct on a GRUB machine whose state cannot be written is
// refused ("It fails, having changed nothing"), but Trial.Commit set
// GRUB's next_entry first: the refused swap leaves it set, recorded
// nowhere, so bless never clears it, and the next cold boot (e.g. after
// a kernel upgrade) boots the old entry instead of GRUB's default.
func TestReviewDirectRefusedLeavesGRUBOneShot(t *testing.T) {
	root := grubSystem(t)
	// The state cannot be written: its name is taken by a directory.
	os.MkdirAll(filepath.Join(root, "boot/warmboot/state/x"), 0o755)
	p, err := Preflight(env(root), Request{Entry: "A", Direct: true})
	if err != nil {
		t.Fatal(err)
	}
	done(p)
	if err := p.Trial.Commit(slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("Commit with an unwritable state succeeded")
	}
	blk, _ := os.ReadFile(filepath.Join(root, "boot/grub/grubenv"))
	if vars, _ := grubenv.Map(blk); vars["next_entry"] != "" {
		t.Errorf("the refused -direct swap left GRUB's next_entry=%q set, recorded nowhere", vars["next_entry"])
	}
}
