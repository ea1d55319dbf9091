package shutdown

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Process
	}{
		{"1 (init) S 0 1 1 0 -1 4194560 1 2 3", Process{PID: 1, Comm: "init", State: 'S'}},
		{"2 (kthreadd) S 0 0 0 0 -1 2129984 0 0", Process{PID: 2, Comm: "kthreadd", State: 'S', Kernel: true}},
		{"77 (a (b) c) Z 1 77 77 0 -1 4194308 0", Process{PID: 77, Comm: "a (b) c", State: 'Z'}},
	} {
		got, err := ParseStat([]byte(tc.in))
		if err != nil {
			t.Errorf("ParseStat(%q): %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseStat(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, bad := range []string{"", "1 init S", "x (a) S 1 2 3 4 5 6", "1 (a) S 1", "1 (a) SS 0 1 1 0 -1 0", "1 (a) S 0 1 1 0 -1 zz", "1 (a) \x00 0 1 1 0 -1 0", "1 (a) 7 0 1 1 0 -1 0"} {
		if _, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) succeeded", bad)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("77 (a (b) c) Z 1 77 77 0 -1 4194308 0"))
	f.Add([]byte("2 (kthreadd) S 0 0 0 0 -1 2129984 0 0"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		p, err := ParseStat(data)
		if err == nil && (p.PID <= 0 || p.State == 0) {
			t.Errorf("ParseStat(%q) = %+v with no error", data, p)
		}
	})
}
