package loader

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/discover"
	"github.com/warmboot/warmboot/boot/grubenv"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/state"
)

// debianGRUB turns bt into a Debian-like system whose firmware starts
// GRUB: Debian's 00_header (load_env, next_entry used up by save_env), a
// floating "simple" entry booting the newest kernel (B) and per-kernel
// entries in a submenu.
func debianGRUB(t *testing.T, bt *bootTest) {
	t.Helper()
	os.RemoveAll(filepath.Join(bt.root, "loader"))
	os.MkdirAll(filepath.Join(bt.root, "boot/grub"), 0o755)
	for _, n := range []string{"vmlinuz-a", "vmlinuz-b"} {
		os.Rename(filepath.Join(bt.root, n), filepath.Join(bt.root, "boot", n))
	}
	os.WriteFile(filepath.Join(bt.root, "boot/grub/grub.cfg"), []byte(`if [ -s $prefix/grubenv ]; then
  load_env
fi
if [ "${next_entry}" ] ; then
   set default="${next_entry}"
   set next_entry=
   save_env next_entry
fi
menuentry 'B' --id b { linux /boot/vmlinuz-b entry=b }
submenu 'Advanced' --id adv {
menuentry 'A' --id a { linux /boot/vmlinuz-a entry=a }
menuentry 'B' --id b2 { linux /boot/vmlinuz-b entry=b }
}
`), 0o644)
	bt.cfg.Firmware, bt.commit.Chain = "grub", "grub"
}

// REVIEW: warmswap -entry on a machine whose firmware starts GRUB sets
// GRUB's next_entry to the running entry (A) before the kexec, and
// records it as the one-shot's Firmware. The bootloader then boots the
// handoff's entry B, but first runs GRUB's config, whose 00_header uses
// next_entry up (save_env next_entry), and Commit saves that write: the
// protection warmswap just set is cleared before the kexec into the
// trial. B panics (panic=N), the firmware starts GRUB, next_entry is
// empty, and GRUB boots its default, B, with no panic= and no watchdog:
// stranded.
func TestReviewHandoffKeepsGRUBOneShot(t *testing.T) {
	bt := newBootTest(t)
	debianGRUB(t, bt)
	k, _ := os.ReadFile(filepath.Join(bt.root, "boot/vmlinuz-a"))
	a := state.Boots(sha256.Sum256(k), nil, "BOOT_IMAGE=/boot/vmlinuz-a entry=a")
	// What warmswap left before its kexec (swap.Trial.Commit).
	one := &state.OneShot{Loader: "grub", File: "/boot/grub/grubenv", Var: "next_entry", Value: "adv>a"}
	blk, _ := grubenv.Set(grubenv.New(), "next_entry", "adv>a")
	os.WriteFile(filepath.Join(bt.root, "boot/grub/grubenv"), blk, 0o644)
	fb := &state.Ref{ID: "a", Boots: a}
	discover.InRoot(bt.root, func(r *os.Root) error {
		return state.Save(r, "boot/warmboot/state", state.State{LastGood: fb,
			Next: &state.Attempt{Entry: state.Ref{ID: "b"}, At: bt.now.Add(-time.Minute), By: "warmswap", Fallback: fb, Firmware: one}})
	})
	bt.handoff = &handoff.Record{Entry: "b", Reason: "warmswap"}
	if act := bt.Pass(bt.ctx(t)); act != kexecNow {
		t.Fatalf("pass = %v\n%s", act, bt.out)
	}
	s, _ := state.Read(os.DirFS(bt.root), "boot/warmboot/state")
	if s.Trial == nil || s.Trial.Entry.ID != "b" || len(bt.armed) == 0 {
		t.Fatalf("B's boot is not an armed trial: %+v armed %v\n%s", s.Trial, bt.armed, bt.out)
	}
	blk, _ = os.ReadFile(filepath.Join(bt.root, "boot/grub/grubenv"))
	if vars, _ := grubenv.Map(blk); vars["next_entry"] != "adv>a" {
		t.Errorf("after the kexec into the trial of B, GRUB's next_entry = %q, want %q: a reset during the trial goes to GRUB, which boots its default (B) again\n%s", vars["next_entry"], "adv>a", bt.out)
	}
}
