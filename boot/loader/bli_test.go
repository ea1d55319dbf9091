package loader

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gocmp "github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/state"
)

// setVar sets one of systemd's variables as bootctl does.
func (bt *bootTest) setVar(t *testing.T, name, value string) {
	t.Helper()
	if bt.efivars == "" {
		bt.efivars = t.TempDir()
	}
	if err := (efivar.Vars{Dir: bt.efivars}).WriteString(name, efivar.Loader, efivar.AttrPersistent, value); err != nil {
		t.Fatal(err)
	}
}

// isSet says one of systemd's variables is set.
func (bt *bootTest) isSet(t *testing.T, name string) bool {
	t.Helper()
	_, err := (efivar.Vars{Dir: bt.efivars}).ReadString(name, efivar.Loader)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	return err == nil
}

func (bt *bootTest) saveState(t *testing.T, s state.State) {
	t.Helper()
	if err := discover.InRoot(bt.root, func(r *os.Root) error { return state.Save(r, "warmboot/state", s) }); err != nil {
		t.Fatal(err)
	}
}

// A third entry, "C" (0-c.conf, last in BLS order).
func (bt *bootTest) addC(t *testing.T) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(bt.root, "loader/entries/0-c.conf"), []byte("title C\nlinux /vmlinuz-b\noptions root=/dev/vda2 entry=c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// bootctl set-default: LoaderEntryDefault is the default, in place of the
// configs', and is left set; it is the configs' default for a default
// "warmboot bless" kept, which gives way when it changes.
func TestPassLoaderEntryDefault(t *testing.T) {
	bt := newBootTest(t)
	bt.setVar(t, efivar.LoaderEntryDefault, "1-B.conf")
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=b"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	bt.said(t, `warmboot: systemd's LoaderEntryDefault: default "B" (bootctl set-default; the configs' default is "A")`)
	if !bt.isSet(t, efivar.LoaderEntryDefault) {
		t.Error("LoaderEntryDefault was removed")
	}

	// B was kept as the default over A, the configs' default then;
	// bootctl set-default 0-c.conf changes the configs' default: the
	// kept default gives way.
	bt = newBootTest(t)
	bt.addC(t)
	bt.saveState(t, state.State{Default: &state.Kept{Ref: *bt.ref(t, "1-b"), Over: bt.ref(t, "2-a")}, LastGood: bt.ref(t, "1-b")})
	bt.setVar(t, efivar.LoaderEntryDefault, "2-a.conf")
	bt.Pass(bt.ctx(t))
	bt.said(t, `systemd's LoaderEntryDefault: default "A" (bootctl set-default), as the configs say`, `default: "B", kept by "warmboot bless"`, `booting "B"`)
	bt.out.Reset()
	bt.setVar(t, efivar.LoaderEntryDefault, "0-c.conf")
	bt.Pass(bt.ctx(t))
	bt.said(t, `the configs' default changed since "1-b" was kept as the default`, `booting "C"`)

	bt = newBootTest(t)
	bt.setVar(t, efivar.LoaderEntryDefault, "fedora.conf")
	bt.Pass(bt.ctx(t))
	bt.said(t, `warmboot: warning: systemd's LoaderEntryDefault "fedora.conf" (bootctl set-default) names no BLS entry; the default is the configs' "A"`, `booting "A"`)
}

// bootctl set-oneshot: LoaderEntryOneShot is removed before the boot and
// boots its entry once, as a trial (it is not last-known-good); when the
// trial never blesses itself, the next boot falls back, and the one-shot
// entry is not booted again.
func TestPassLoaderEntryOneShot(t *testing.T) {
	bt := newBootTest(t)
	bt.saveState(t, state.State{LastGood: bt.ref(t, "2-a")})
	bt.setVar(t, efivar.LoaderEntryOneShot, "1-B+3-0.conf")
	if a := bt.Pass(bt.ctx(t)); a != kexecNow {
		t.Fatalf("pass = %v\n%s", a, bt.out)
	}
	bt.said(t, `warmboot: systemd's LoaderEntryOneShot: booting "B" once (bootctl set-oneshot)`, `trial: "B" recorded in vda1:/warmboot/state`, "watchdog armed for 1m30s")
	if diff := gocmp.Diff([]string{"kexec_file_load: root=/dev/vda2 entry=b panic=7 watchdog.open_timeout=90"}, bt.loaded()); diff != "" {
		t.Errorf("loads (-want +got):\n%s", diff)
	}
	if bt.isSet(t, efivar.LoaderEntryOneShot) {
		t.Error("LoaderEntryOneShot is still set after the boot")
	}
	s := bt.state(t)
	if s.Trial == nil || s.Trial.Entry.ID != "1-b" || s.Trial.Fallback == nil || s.Trial.Fallback.ID != "2-a" || s.Next != nil {
		t.Fatalf("state after the one-shot boot: %+v", s)
	}

	bt.out.Reset()
	bt.rec.Calls = nil
	bt.Pass(bt.ctx(t))
	bt.said(t, `the trial of "1-b" (started by warmboot at`, `falling back to "A"`, `booting "A"`)
	if strings.Contains(bt.out.String(), "LoaderEntryOneShot") {
		t.Errorf("the second boot read the one-shot entry again:\n%s", bt.out)
	}

	// Blessed on last-known-good: an ordinary boot, no trial.
	bt = newBootTest(t)
	bt.saveState(t, state.State{LastGood: bt.ref(t, "1-b")})
	bt.setVar(t, efivar.LoaderEntryOneShot, "1-b.conf")
	bt.Pass(bt.ctx(t))
	bt.said(t, `booting "B" once`, `booting "B"`)
	if len(bt.armed) != 0 || strings.Contains(bt.out.String(), "trial:") {
		t.Errorf("last-known-good booted once as a trial:\n%s", bt.out)
	}
}

// A one-shot entry that cannot be removed would boot at every boot: it
// is ignored, with a warning. The variable directory is made immutable,
// which stops even root from removing a file in it.
func TestPassLoaderEntryOneShotStuck(t *testing.T) {
	bt := newBootTest(t)
	bt.setVar(t, efivar.LoaderEntryOneShot, "1-b.conf")
	d, err := os.Open(bt.efivars)
	if err != nil {
		t.Fatal(err)
	}
	flags, err := sys.InodeFlags(d)
	if err == nil {
		err = sys.SetInodeFlags(d, flags|sys.FS_IMMUTABLE_FL)
	}
	if err != nil {
		d.Close()
		t.Skipf("cannot make %s immutable: %v", bt.efivars, err)
	}
	t.Cleanup(func() { sys.SetInodeFlags(d, flags); d.Close() })
	bt.Pass(bt.ctx(t))
	bt.said(t, `warmboot: warning: ignoring systemd's LoaderEntryOneShot "1-b.conf" (bootctl set-oneshot): it cannot be removed (removing EFI variable `, "so it would boot at every boot", `booting "A"`)
}

// What else leaves the one-shot entry alone, or drops it: a handoff
// (that boot is the running system's), a dry run, an id no entry has,
// warmboot's own one-shot entry pending.
func TestPassLoaderEntryOneShotNot(t *testing.T) {
	t.Run("handoff", func(t *testing.T) {
		bt := newBootTest(t)
		bt.setVar(t, efivar.LoaderEntryOneShot, "2-a.conf")
		bt.handoff = &handoff.Record{Entry: "1-b", Reason: "test"}
		bt.Pass(bt.ctx(t))
		bt.said(t, `systemd's LoaderEntryOneShot "2-a.conf" (bootctl set-oneshot) is left for the next boot through the firmware: this boot is the handoff's`, `booting "B"`)
		if !bt.isSet(t, efivar.LoaderEntryOneShot) {
			t.Error("a handoff removed LoaderEntryOneShot")
		}
	})
	t.Run("dry run", func(t *testing.T) {
		bt := newBootTest(t)
		bt.cfg.DryRun = true
		bt.setVar(t, efivar.LoaderEntryOneShot, "1-b.conf")
		bt.Pass(bt.ctx(t))
		bt.said(t, `-dry-run: not removing systemd's LoaderEntryOneShot "1-b.conf"`, `booting "B" once`)
		if !bt.isSet(t, efivar.LoaderEntryOneShot) {
			t.Error("-dry-run removed LoaderEntryOneShot")
		}
	})
	t.Run("no such entry", func(t *testing.T) {
		bt := newBootTest(t)
		bt.setVar(t, efivar.LoaderEntryOneShot, "gone.conf")
		bt.Pass(bt.ctx(t))
		bt.said(t, `warmboot: warning: systemd's LoaderEntryOneShot "gone.conf" (bootctl set-oneshot) names no BLS entry; removed it, as systemd-boot does`, `booting "A"`)
		if bt.isSet(t, efivar.LoaderEntryOneShot) {
			t.Error("LoaderEntryOneShot naming no entry was kept")
		}
	})
	t.Run("warmboot's own one-shot first", func(t *testing.T) {
		bt := newBootTest(t)
		bt.addC(t)
		bt.saveState(t, state.State{Next: &state.Attempt{Entry: state.Ref{ID: "0-c"}, By: "warmswap"}})
		bt.setVar(t, efivar.LoaderEntryOneShot, "1-b.conf")
		bt.Pass(bt.ctx(t))
		bt.said(t, `not booting "1-b", which systemd's LoaderEntryOneShot asked for (bootctl set-oneshot): warmboot's own one-shot next entry "C" (asked by warmswap) goes first`, `booting "C"`)
	})
	t.Run("no UEFI", func(t *testing.T) {
		bt := newBootTest(t)
		bt.Pass(bt.ctx(t))
		if strings.Contains(bt.out.String(), "Loader") {
			t.Errorf("a machine without UEFI said something of the variables:\n%s", bt.out)
		}
	})
}
