package handoff

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRecordRoundTrip(t *testing.T) {
	in := Record{Entry: "debian-6.1", Reason: "warmswap", Time: time.Date(2026, 11, 22, 18, 40, 0, 0, time.UTC), From: "h 6.1", Seed: strings.Repeat("ab", 32)}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadRecord(fstest.MapFS{".warmboot/handoff.json": {Data: data}})
	if err != nil {
		t.Fatal(err)
	}
	in.Version = Version
	if diff := cmp.Diff(in, got); diff != "" || len(got.SeedBytes()) != 32 {
		t.Errorf("ReadRecord = %+v, want %+v", got, in)
	}
	if _, err := ReadRecord(fstest.MapFS{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadRecord(no handoff) = %v, want ErrNotExist", err)
	}
}

func TestParseRecordErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want error
		msg  string
	}{
		{`{"version":2,"entry":"x"}`, ErrVersion, "unknown handoff record version 2 (this bootloader reads version 1)"},
		{`{"entry":"x"}`, ErrMalformed, "no version"},
		{`{"version":1}`, ErrMalformed, "no entry and no kernel"},
		{`{"version":1,"entry":"x","kernel":{"path":"/k"}}`, ErrMalformed, "both an entry and a kernel"},
		{`{"version":1,"kernel":{"path":"k"}}`, ErrMalformed, `kernel file path "k" is not clean and absolute`},
		{`{"version":1,"kernel":{"path":"/k","initrds":["/../../etc/shadow"]}}`, ErrMalformed, "not clean"},
		{`{"version":1,"entry":"x","seed":"zz"}`, ErrMalformed, "seed"},
		{`{"version":1,"entry":`, ErrMalformed, "unexpected end"},
		{"\x00garbage", ErrMalformed, "invalid character"},
		{`{"version":1,"entry":"x","time":"yesterday"}`, ErrMalformed, "time"},
	} {
		_, err := ParseRecord([]byte(tc.in))
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("ParseRecord(%q) = %v, want %v containing %q", tc.in, err, tc.want, tc.msg)
		}
	}
	// Unknown fields of the same version are accepted.
	if _, err := ParseRecord([]byte(`{"version":1,"entry":"x","future":true}`)); err != nil {
		t.Errorf("ParseRecord(unknown field) = %v", err)
	}
}

func TestKernelRecord(t *testing.T) {
	in := Record{Time: time.Date(2026, 11, 22, 18, 40, 0, 0, time.UTC), Kernel: &Kernel{Path: "/boot/vmlinuz", Initrds: []string{"/boot/initrd.img"}, Cmdline: "quiet"}}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseRecord(data)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = Version
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if w := got.Wants(); w != "the kernel handed over (/boot/vmlinuz)" {
		t.Errorf("Wants() = %q", w)
	}
}

func TestBooted(t *testing.T) {
	in := Booted{Entry: "e", Label: "E", By: "warmboot", Handoff: &Record{Version: 1, Entry: "e"}, Timeline: []byte(`{"phases":[]}`)}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBooted(data)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = Version
	if !strings.Contains(string(got.Timeline), `"phases"`) {
		t.Errorf("timeline = %s", got.Timeline)
	}
	in.Timeline = got.Timeline // re-indented
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if _, err := ParseBooted([]byte(`{"version":7}`)); !errors.Is(err, ErrVersion) {
		t.Errorf("ParseBooted(version 7) = %v, want ErrVersion", err)
	}
}

func FuzzParseBooted(f *testing.F) {
	f.Add([]byte(`{"version":1,"entry":"e","by":"warmboot","timeline":{"phases":[]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBooted(data)
		if err == nil && b.Version != Version {
			t.Fatalf("ParseBooted accepted version %d", b.Version)
		}
	})
}

func FuzzParseRecord(f *testing.F) {
	f.Add([]byte(`{"version":1,"entry":"x","seed":"` + strings.Repeat("00", 32) + `"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := ParseRecord(data)
		if err != nil {
			return
		}
		out, err := r.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		r2, err := ParseRecord(out)
		if err != nil || r2.Entry != r.Entry || r2.Seed != r.Seed || !r2.Time.Equal(r.Time) || (r.Kernel == nil) != (r2.Kernel == nil) {
			t.Fatalf("round trip: %+v → %+v, %v", r, r2, err)
		}
	})
}
