package bls

import (
	"strings"
	"testing"

	"github.com/warmboot/warmboot/internal/testtool"
)

// The life of a counted entry, as the Boot Loader Specification and
// systemd's "Automatic Boot Assessment" describe it: kernel-install writes
// +3; each attempt moves one try from LEFT to DONE; a blessed boot drops
// the counter; an entry out of tries stays at +0 and ranks last.
func TestCounting(t *testing.T) {
	name := "fedora-6.1+3.conf"
	var chain []string
	for i := 0; i < 4; i++ {
		next, ok := Attempted(name)
		if !ok {
			t.Fatalf("Attempted(%q) not counted", name)
		}
		chain = append(chain, next)
		name = next
	}
	if got, want := strings.Join(chain, " "), "fedora-6.1+2-1.conf fedora-6.1+1-2.conf fedora-6.1+0-3.conf fedora-6.1+0-4.conf"; got != want {
		t.Errorf("attempts: %s\nwant:     %s", got, want)
	}
	for _, tt := range []struct{ in, blessed, bad string }{
		{"fedora-6.1+1-2.conf", "fedora-6.1.conf", "fedora-6.1+0-2.conf"},
		{"a+b+5.conf", "a+b.conf", "a+b+0-0.conf"},
		{"plain.conf", "plain.conf", "plain+0-0.conf"},
	} {
		if got := Blessed(tt.in); got != tt.blessed {
			t.Errorf("Blessed(%q) = %q, want %q", tt.in, got, tt.blessed)
		}
		if got := Bad(tt.in); got != tt.bad {
			t.Errorf("Bad(%q) = %q, want %q", tt.in, got, tt.bad)
		}
	}
	for _, in := range []string{"plain.conf", "a+.conf", "a+x.conf", "a+1-.conf", "a+-1.conf", "a+1-x.conf", "a+1-2-3.conf", "a+ 1.conf"} {
		if _, ok := Attempted(in); ok {
			t.Errorf("Attempted(%q) counted; a malformed counter is no counter", in)
		}
	}
	if base, c, ok := ParseCounter("a++1.conf"); !ok || base != "a+" || c != (Counter{1, 0}) {
		t.Errorf("ParseCounter(a++1.conf) = %q %v %v", base, c, ok)
	}
}

func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"fedora-6.1+3.conf", "a+0-9.conf", "x.conf", "a+1-2-3.conf"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		var base string
		var c Counter
		var ok bool
		testtool.Bounded(t, func() { base, c, ok = ParseCounter(name) })
		if !ok {
			return
		}
		if c.Left < 0 || c.Done < 0 {
			t.Fatalf("ParseCounter(%q) = %v", name, c)
		}
		next, _ := Attempted(name)
		b2, c2, ok2 := ParseCounter(next)
		if !ok2 || b2 != base || c2.Done != min(c.Done+1, maxCount) || c2.Left != max(c.Left-1, 0) {
			t.Fatalf("Attempted(%q) = %q: %q %v %v", name, next, b2, c2, ok2)
		}
		if b, _, ok := ParseCounter(Blessed(name)); ok && b == base {
			t.Fatalf("Blessed(%q) = %q still counted", name, Blessed(name))
		}
	})
}
