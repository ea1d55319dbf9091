package bless

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/swap"
	"github.com/warmboot/warmboot/boot/swap/swaptest"
)

// A warmswap that holds the state lock past LockWait (slow: a stalled
// /boot, memory pressure): bless must not write what it read, which the
// swap's commit would overwrite anyway (the swap wrote its state from a
// read before bless's), nor leave a record the swap's write silently
// undoes. It writes nothing, says so, and fails; a second swap is refused
// the same way, having stopped nothing.
func TestLockBusy(t *testing.T) {
	root := swaptest.System(t, "")
	file := state.HostFile(root)
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s0 := state.State{Trial: &state.Attempt{Entry: state.Ref{ID: "b"}, At: time.Date(2026, 11, 22, 17, 0, 0, 0, time.UTC), By: "warmswap"}}
	if err := state.Save(r, file, s0); err != nil {
		t.Fatal(err)
	}
	before, _ := r.ReadFile(file)
	env := swap.Env{Root: root, Now: func() time.Time { return time.Date(2026, 11, 22, 18, 0, 0, 0, time.UTC) },
		Rand: bytes.NewReader(bytes.Repeat([]byte{7}, 32)), Hostname: "h", Release: "r"}
	p, err := swap.Preflight(env, swap.Request{Entry: "a", Unprotected: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Release()
	p.Image.Close()

	defer func(w time.Duration) { state.LockWait = w }(state.LockWait)
	state.LockWait = 100 * time.Millisecond
	var said bytes.Buffer
	err = Bless(root, clog.New(&said, "bless"), Options{})
	if !errors.Is(err, state.ErrLockBusy) || !strings.Contains(err.Error(), "is not recorded as last-known-good: run \"warmboot bless\" again") {
		t.Fatalf("bless with the lock held elsewhere = %v; said:\n%s", err, said.String())
	}
	if after, _ := r.ReadFile(file); !bytes.Equal(before, after) || strings.Contains(said.String(), "last-known-good\n") {
		t.Errorf("bless wrote the state without the lock:\n%s\nsaid:\n%s", after, said.String())
	}
	if _, err := swap.Preflight(env, swap.Request{Entry: "a", Unprotected: true}); !errors.Is(err, state.ErrLockBusy) || !strings.Contains(err.Error(), "boot state") {
		t.Errorf("a second swap while the first holds the lock = %v, want it refused", err)
	}
}
