// Package nextboot says, on a running system, which entry the bootloader
// will boot on the next boot that no running system asks for (a reboot,
// a reset, a power cycle through warmboot, or "warmswap -load"): the
// configs' default as the bootloader's state (package state) changes it
// by the fallback chain of package trial — a failed trial's fallback, the
// one-shot next entry, a default kept by "warmboot bless", an entry out
// of tries passed over. "warmboot list" and warmswap print it, so that
// neither says the configs' default where the bootloader boots another
// entry.
//
// It reads the files of the entries the state names by what they boot
// (their digests, state.Boots), as the bootloader does; everything else
// is trial.Resolve's.
package nextboot

import (
	"fmt"
	"os"
	"time"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/trial"
)

// Next is the entry the bootloader boots next, and why.
type Next struct {
	// Entry indexes the menu: the entry the bootloader boots next; -1
	// when the menu is empty.
	Entry int
	// Default is the configs' default (choose.Menu.Default); -1 when the
	// menu is empty.
	Default int
	// Notes are what the state decided, in the bootloader's words (the
	// bootloader says them on its consoles): empty when it is the
	// configs' default and the state changes nothing.
	Notes []clog.Note
}

// ByState says the state chose another entry than the configs' default.
func (n Next) ByState() bool { return n.Entry != n.Default }

// Why says, for people, how the entry was chosen: "the configs'
// default", or by the state over which default (m is the menu Of was
// given).
func (n Next) Why(m choose.Menu) string {
	switch {
	case n.Entry < 0:
		return "nothing: no boot entries"
	case !n.ByState():
		return "the configs' default"
	}
	return fmt.Sprintf("chosen by the bootloader's state over the configs' default %q", m.Entries[n.Default].Label)
}

// Boots returns what entry i of m boots (state.Boots over its files'
// digests, taken through sums when not nil), "" when its files cannot
// be read; each entry's files are read at most once. It is
// trial.Context.Boots for m, as the bootloader and warmswap take it.
func Boots(m choose.Menu, sums *sumcache.Cache) func(i int) string {
	memo := map[int]string{}
	return func(i int) string {
		if b, ok := memo[i]; ok {
			return b
		}
		e := m.Entries[i]
		b := ""
		if k, ins, err := kexec.Digests(e, sums); err == nil {
			b = state.EntryBoots(e, k, ins, e.Cmdline)
		}
		memo[i] = b
		return b
	}
}

// Of applies the bootloader's fallback chain (trial.Resolve) to the
// state s and the menu m as the bootloader applies it on a boot no running
// system asked for (no handoff), at now. It assumes the bootloader can
// record what it decides (a one-shot entry it cannot use up is ignored
// by the bootloader: package trial).
func Of(s state.State, m choose.Menu, sums *sumcache.Cache, now time.Time) Next {
	if len(m.Entries) == 0 {
		return Next{Entry: -1, Default: -1}
	}
	r := trial.Resolve(s, m, trial.Context{Now: now, Boots: Boots(m, sums)})
	return Next{Entry: r.Menu.Default, Default: m.Default, Notes: r.Notes}
}

// Host is Of over the state of the running system under root, where
// warmswap and "warmboot bless" keep it (state.HostFile). A state that
// cannot be read is treated as empty, as the bootloader treats it; err
// says why.
func Host(root string, m choose.Menu, sums *sumcache.Cache, now time.Time) (n Next, err error) {
	s, err := state.Read(os.DirFS(root), state.HostFile(root))
	return Of(s, m, sums, now), err
}
