package metrics

import (
	"sync"
	"testing"
	"time"
)

// REVIEW 24: Update reads, changes and replaces metrics.json with no
// lock. warmswap (Started, Abandon) and "warmboot bless" (Observe) are
// separate processes that do run together (an orchestrator's warmswap
// while warmboot-bless.service is still waiting for devices; -commit
// beside the unit): one's write drops the other's count.
func TestReview24UpdateLosesCounts(t *testing.T) {
	root := t.TempDir()
	at := time.Date(2026, 12, 4, 15, 0, 0, 0, time.UTC)
	var wg sync.WaitGroup
	const n = 40
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			Update(root, func(c *Counts) { c.Started("kexec", at, at) })
		}()
	}
	wg.Wait()
	c, err := Load(root)
	if err != nil {
		t.Fatal(err)
	}
	if c.Restarts["kexec"] != n {
		t.Errorf("restarts after %d concurrent updates = %d; want %d", n, c.Restarts["kexec"], n)
	}
}
