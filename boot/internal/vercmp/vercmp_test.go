package vercmp

import "testing"

func TestCompare(t *testing.T) {
	// Each pair is strictly increasing: older first.
	for _, tt := range []struct{ older, newer string }{
		{"6.1.0-9", "6.1.0-10"},
		{"6.1.0", "6.1.1"},
		{"5.19", "6.1"},
		{"6.1", "6.1.0"},
		{"6.1~rc1", "6.1"},
		{"6.1~rc1", "6.1~rc2"},
		{"123-9", "123.1-1"},
		{"123.a", "123a"},
		{"abc", "abcde"},
		{"a", "1"},
		{"6.1.0-56-amd64", "6.1.0-57-amd64"},
		{"1.0", "1.0^patch"},
		{"", "1"},
	} {
		if got := Compare(tt.older, tt.newer); got != -1 {
			t.Errorf("Compare(%q, %q) = %d, want -1", tt.older, tt.newer, got)
		}
		if got := Compare(tt.newer, tt.older); got != 1 {
			t.Errorf("Compare(%q, %q) = %d, want 1", tt.newer, tt.older, got)
		}
	}
	// systemd's own ascending list (test-string-util.c), pairwise.
	chain := []string{"ab", "abb", "abc", "0001", "002", "12", "122", "122.9",
		"123~rc1", "123", "123-a", "123-a.1", "123-a1", "123-a1.1", "123-3",
		"123-3.1", "123^patch1", "123^1", "123.a-1", "123.1-1", "123a-1", "124"}
	for i := range chain {
		for j := i + 1; j < len(chain); j++ {
			if got := Compare(chain[i], chain[j]); got != -1 {
				t.Errorf("Compare(%q, %q) = %d, want -1", chain[i], chain[j], got)
			}
		}
	}
	for _, tt := range [][2]string{{"0123", "123"}, {"1.0", "1.0"}, {"1_0", "1_0"}} {
		if got := Compare(tt[0], tt[1]); got != 0 {
			t.Errorf("Compare(%q, %q) = %d, want 0", tt[0], tt[1], got)
		}
	}
}

func FuzzCompare(f *testing.F) {
	f.Add("6.1.0-9", "6.1.0-10")
	f.Add("1~rc", "1")
	f.Add("a.b-c^d", "a.b-c")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 256 || len(b) > 256 {
			return
		}
		ab, ba := Compare(a, b), Compare(b, a)
		if ab != -ba {
			t.Fatalf("Compare(%q,%q)=%d but Compare(%q,%q)=%d: not antisymmetric", a, b, ab, b, a, ba)
		}
		if Compare(a, a) != 0 {
			t.Fatalf("Compare(%q,%q) != 0", a, a)
		}
	})
}
