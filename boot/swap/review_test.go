package swap

import (
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
	p.Image.Close()
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
	p.Image.Close()
	n := p.Trial.State.Next
	if n == nil || n.Over == nil || n.Over.ID != "a" {
		t.Errorf("the swap's one-shot records the configs' default as %v; the bootloader takes %q for it (LoaderEntryDefault) and drops the default bless keeps at the first reboot", n.Over, "a")
	}
}
