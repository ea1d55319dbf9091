package handoff

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
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
	in := Booted{Entry: "e", Label: "E", Source: entry.Source{Device: "vda1", File: "/loader/entries/e+3.conf", Line: 1},
		By: "warmboot", Handoff: &Record{Version: 1, Entry: "e"}, Timeline: []byte(`{"phases":[]}`)}
	data, err := in.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if want := `"source": {
    "device": "vda1",
    "file": "/loader/entries/e+3.conf",
    "line": 1
  }`; !strings.Contains(string(data), want) || !strings.Contains(string(data), `"version": 2`) {
		t.Errorf("Marshal = %s\nwant version 2 and %s", data, want)
	}
	got, err := ParseBooted(data)
	if err != nil {
		t.Fatal(err)
	}
	in.Version = BootedVersion
	if !strings.Contains(string(got.Timeline), `"phases"`) {
		t.Errorf("timeline = %s", got.Timeline)
	}
	in.Timeline = got.Timeline // re-indented
	if diff := cmp.Diff(in, got); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	// No source: none written, none read.
	data, _ = Booted{Entry: "e", By: "warmboot"}.Marshal()
	if got, err := ParseBooted(data); err != nil || strings.Contains(string(data), "source") || got.Source != (entry.Source{}) {
		t.Errorf("ParseBooted(%s) = %+v, %v; want no source", data, got, err)
	}
	for _, tc := range []struct {
		in   string
		want error
	}{
		{`{"version":7}`, ErrVersion},
		{`{"entry":"e"}`, ErrVersion},
		{`{"version":"2"}`, ErrMalformed},
		{`{"version":2,"source":"vda1:/x.conf:1"}`, ErrMalformed},  // version 2's source is a value
		{`{"version":1,"source":{"device":"vda1"}}`, ErrMalformed}, // version 1's is a string
		{`{"version":1,"source":":/x.conf"}`, ErrMalformed},
	} {
		if _, err := ParseBooted([]byte(tc.in)); !errors.Is(err, tc.want) {
			t.Errorf("ParseBooted(%s) = %v, want %v", tc.in, err, tc.want)
		}
	}
}

// A booted.json as the bootloader wrote it before sources were values
// (testdata/booted-v1.json, made by that version's Booted.Marshal) reads
// with its source as one.
func TestBootedVersion1(t *testing.T) {
	data, err := os.ReadFile("testdata/booted-v1.json")
	if err != nil {
		t.Fatal(err)
	}
	got, err := ParseBooted(data)
	if err != nil {
		t.Fatal(err)
	}
	want := Booted{
		Version: 1, Entry: "debian-6.1.0-57-amd64", Label: "Debian GNU/Linux 6.1.0-57",
		Source: entry.Source{Device: "vda1", File: "/loader/entries/debian-6.1.0-57-amd64+2-1.conf", Line: 1},
		By:     "warmboot", Trust: "warmboot_trust: policy=enforce key=ed25519:139e3940e64b5491 manifest=/warmboot/manifest cmdline=signed",
		Handoff: &Record{Version: 1, Entry: "debian-6.1.0-57-amd64", Reason: "warmswap", Time: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), From: "host1 6.1.0-56-amd64"},
	}
	if !strings.Contains(string(got.Timeline), `"modules"`) {
		t.Errorf("timeline = %s", got.Timeline)
	}
	got.Timeline = nil
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseBooted(testdata/booted-v1.json) (-want +got):\n%s", diff)
	}
	// Written again, it is version 2 with the same source.
	out, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := ParseBooted(out)
	if err != nil || again.Version != BootedVersion || again.Source != want.Source {
		t.Errorf("ParseBooted(Marshal()) = version %d, source %+v, %v; want version %d, %+v", again.Version, again.Source, err, BootedVersion, want.Source)
	}
}

func FuzzParseBooted(f *testing.F) {
	f.Add([]byte(`{"version":2,"entry":"e","source":{"device":"vda1","file":"/loader/entries/e.conf","line":1},"by":"warmboot","timeline":{"phases":[]}}`))
	f.Add([]byte(`{"version":1,"entry":"e","source":"vda1:/loader/entries/e.conf:1","by":"warmboot","timeline":{"phases":[]}}`))
	if data, err := os.ReadFile("testdata/booted-v1.json"); err == nil {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := ParseBooted(data)
		if err != nil {
			return
		}
		if b.Version != 1 && b.Version != BootedVersion {
			t.Fatalf("ParseBooted accepted version %d", b.Version)
		}
		out, err := b.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		b2, err := ParseBooted(out)
		if err != nil || b2.Entry != b.Entry || b2.Source != b.Source || b2.By != b.By {
			t.Fatalf("round trip: %+v → %+v, %v", b, b2, err)
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
