package netup

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// The network waits for the kernel's RNG, and gives up with the reason
// when it is not seeded before the wait ends, instead of blocking in
// getrandom past every timeout.
func TestWaitRandom(t *testing.T) {
	calls := 0
	seededLater := func() (bool, error) { calls++; return calls >= 3, nil }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := waitRandom(ctx, seededLater); err != nil || calls != 3 {
		t.Errorf("seeded on the third look: err %v after %d looks, want nil after 3", err, calls)
	}

	never := func() (bool, error) { return false, nil }
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := waitRandom(ctx, never)
	if !errors.Is(err, ErrNoRandom) {
		t.Fatalf("never seeded: err %v, want ErrNoRandom", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("never seeded: returned after %v, want about the 300ms wait", d)
	}
	for _, want := range []string{"not seeded", "RDRAND", "virtio-rng", "warmboot.net.wait="} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the message %q does not say %q", err, want)
		}
	}

	// A kernel that cannot say is not kept off the network.
	cannot := func() (bool, error) { return false, sys.ENOSYS }
	if err := waitRandom(context.Background(), cannot); err != nil {
		t.Errorf("getrandom missing: err %v, want nil", err)
	}
}
