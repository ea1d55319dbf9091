package trial

import (
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/state"
)

// REVIEW: a state of version 2 (or a booted.json from an older image, which
// bless turns into last-known-good) names last-known-good by id alone.
// The upgrade that brings state version 3 usually comes with a kernel
// upgrade (apt upgrade), after which Debian's gnulinux-simple boots the new
// kernel: Ref.Is takes the unknown digest for a match, so the new kernel
// is last-known-good and its boot no trial (no panic=N, no watchdog, no
// GRUB one-shot). The very boot "entries known by what they boot" is for
// goes unguarded.
func TestReviewV2LastGoodDoesNotVouchForNewKernel(t *testing.T) {
	s := state.State{LastGood: &state.Ref{ID: "gnulinux-simple-u"}} // written by an older warmboot
	b := Begin(s, Start{Entry: state.Ref{ID: "gnulinux-simple-u", Boots: "new-kernel"}, By: "warmboot", Uncounted: true},
		Config{Deadline: time.Minute, Panic: 10}, time.Now())
	if !b.Trial || !b.Arm {
		t.Errorf("Begin(last-known-good %q by id only, the same id booting a new kernel) = trial %v, arm %v; want a trial", s.LastGood.ID, b.Trial, b.Arm)
	}
}
