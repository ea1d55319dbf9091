package entry

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/internal/testtool"
)

// The sources warmboot makes read back from their String form as they
// were: BLS and GRUB entries on a device, a directory's configs, the
// kernel handed over, a grubenv write without a line.
var sources = []Source{
	{Device: "vda1", File: "/loader/entries/debian-6.1.0-57-amd64+2-1.conf", Line: 1},
	{Device: "nvme0n1p2", File: "/grub/grub.cfg", Line: 40},
	{Device: "dm-0", File: "/boot/grub/grubenv"},
	{Device: "mapper/vg-boot", File: "/loader/entries/a.conf", Line: 1},
	{Device: "handoff", File: "/.warmboot/handoff.json"},
	{Device: "vda1", File: "(warmswap -kernel)"},
	{File: "(warmswap -kernel)"},
	{File: "/boot/loader/entries/x.conf", Line: 1},
	{File: "/extlinux/extlinux.conf"},
	{File: "/EFI/my:odd dir/grub.cfg", Line: 12},
	{Device: "vda1", File: "/a:b/grub.cfg", Line: 3},
	{Device: "sr0", File: "/isolinux/isolinux.cfg", Line: 1234567},
	{},
}

func TestParseSourceRoundTrip(t *testing.T) {
	for _, src := range sources {
		s := src.String()
		got, err := ParseSource(s)
		if err != nil {
			t.Errorf("ParseSource(%q) = %v", s, err)
			continue
		}
		if diff := cmp.Diff(src, got); diff != "" {
			t.Errorf("ParseSource(%q) (-want +got):\n%s", s, diff)
		}
	}
}

func TestParseSource(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Source
	}{
		// A line is what String writes: positive, no sign, no leading
		// zero; anything else after the last colon is the file's.
		{"vda1:/x.conf:0", Source{Device: "vda1", File: "/x.conf:0"}},
		{"vda1:/x.conf:07", Source{Device: "vda1", File: "/x.conf:07"}},
		{"vda1:/x.conf:-1", Source{Device: "vda1", File: "/x.conf:-1"}},
		{"vda1:/x.conf:+1", Source{Device: "vda1", File: "/x.conf:+1"}},
		{"vda1:/x.conf:99999999999999999999999", Source{Device: "vda1", File: "/x.conf:99999999999999999999999"}},
		{"vda1:/x.conf:", Source{Device: "vda1", File: "/x.conf:"}},
		{"vda1:", Source{Device: "vda1"}},
		{"vda1::3", Source{Device: "vda1", Line: 3}},
		{"/grub/grub.cfg:7", Source{File: "/grub/grub.cfg", Line: 7}},
	} {
		got, err := ParseSource(tc.in)
		if err != nil {
			t.Errorf("ParseSource(%q) = %v", tc.in, err)
			continue
		}
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("ParseSource(%q) (-want +got):\n%s", tc.in, diff)
		}
	}
	for _, in := range []string{":/x.conf:1", ":3", ":"} {
		if got, err := ParseSource(in); err == nil {
			t.Errorf("ParseSource(%q) = %+v, want an error (no device before the colon)", in, got)
		}
	}
}

func FuzzParseSource(f *testing.F) {
	for _, src := range sources {
		f.Add(src.String())
	}
	f.Add(":/x.conf:1")
	f.Add("vda1:/x.conf:007")
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 4096 {
			return
		}
		var src Source
		var err error
		testtool.Bounded(t, func() { src, err = ParseSource(s) })
		if err != nil {
			return
		}
		if got := src.String(); got != s {
			t.Fatalf("ParseSource(%q) = %+v, which prints as %q", s, src, got)
		}
		again, err := ParseSource(src.String())
		if err != nil || again != src {
			t.Fatalf("ParseSource(%q) = %+v, %v; want %+v", src.String(), again, err, src)
		}
	})
}
