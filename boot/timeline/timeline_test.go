package timeline

import (
	"testing"
	"time"
)

func TestTimeline(t *testing.T) {
	clock := time.Unix(0, 0)
	tl := NewAt(func() time.Time { return clock })
	step := func(name string, d time.Duration) {
		end := tl.Begin(name)
		clock = clock.Add(d)
		end()
	}
	step("modules", 120*time.Millisecond)
	step("menu", 5*time.Second)
	step("read", 40*time.Millisecond)
	step("read", 10*time.Millisecond)
	want := "modules=120ms menu=5s read=50ms total=5.17s work=170ms"
	if got := tl.String(); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if got := tl.Phases[2].Millis; got != 50 {
		t.Errorf("read Millis = %v, want 50", got)
	}
}
