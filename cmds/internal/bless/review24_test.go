package bless

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/metrics"
	"github.com/warmboot/warmboot/boot/state"
)

// REVIEW 24: a trial failed (the firmware's loader booted "old"). The
// boot's bless finds the state locked by a warmswap an orchestrator
// started at once (ErrLockBusy): it saves nothing, but counts the
// fallback from the failure it computed (FailureSeen = now). The next
// bless records the same failure with a later "seen" and counts it
// again: one fallback, counted twice.
func TestReview24FallbackCountedTwice(t *testing.T) {
	root, began := kexecd(t)
	b := handoff.Booted{Entry: "old", Boots: strings.Repeat("o", 64), By: "warmboot"}
	data, _ := b.Marshal()
	os.WriteFile(filepath.Join(root, "run/warmboot/booted.json"), data, 0o644)
	now := began.Add(time.Minute)
	o := Options{Now: func() time.Time { now = now.Add(time.Second); return now }}
	wait := state.LockWait
	state.LockWait = 100 * time.Millisecond
	defer func() { state.LockWait = wait }()
	unlock, err := state.Lock(root) // the warmswap planning a swap
	if err != nil {
		t.Fatal(err)
	}
	var said bytes.Buffer
	if err := Bless(root, clog.New(&said, "bless"), o); err == nil {
		t.Fatalf("Bless with the state locked = nil; want the lock's error")
	}
	unlock()
	if err := Bless(root, clog.New(&said, "bless"), o); err != nil {
		t.Fatal(err)
	}
	if c, _ := metrics.Load(root); c.Fallbacks != 1 {
		t.Errorf("fallbacks = %d after one failed trial (blessed once busy, once not); want 1", c.Fallbacks)
	}
}
