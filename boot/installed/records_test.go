package installed

import (
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

func TestRecordsRoundTrip(t *testing.T) {
	r, err := ParseRecords(Current.Marshal())
	if err != nil || r != Current {
		t.Fatalf("ParseRecords(Current.Marshal()) = %+v, %v; want %+v", r, err, Current)
	}
	// A newer image may say more; blank lines are nothing.
	r, err = ParseRecords([]byte("state 3\n\nbooted 2\nhandoff 1\nuki 1\n"))
	if err != nil || r != (Records{State: 3, Booted: 2, Handoff: 1}) {
		t.Errorf("ParseRecords with an unknown name = %+v, %v", r, err)
	}
	for _, bad := range []string{"state\n", "state two\n", "state 0\n", "state -1\n"} {
		if _, err := ParseRecords([]byte(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("ParseRecords(%q) = %v; want an error at line 1", bad, err)
		}
	}
}

// An image that reads an older state or handoff than this build writes,
// or writes a newer booted.json than it reads, is refused with the fix.
func TestRecordsCheck(t *testing.T) {
	if err := Current.Check("img"); err != nil {
		t.Errorf("Current.Check = %v", err)
	}
	newer := Current
	newer.State++
	if err := newer.Check("img"); err != nil {
		t.Errorf("an image reading a newer state: %v; want it re-entered (it reads this build's too)", err)
	}
	for _, tc := range []struct {
		r    Records
		want string
	}{
		{Records{}, "img reads boot state version 1 and this warmswap writes version 3"},
		{Records{State: Current.State, Handoff: Current.Handoff + 1, Booted: Current.Booted}, "img reads handoff records of version"},
		{Records{State: Current.State, Handoff: Current.Handoff, Booted: Current.Booted + 1}, "img writes booted.json version 3, newer than this warmboot bless reads (2)"},
	} {
		if err := tc.r.Check("img"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v.Check = %v; want %q", tc.r, err, tc.want)
		}
	}
}

// Read takes the records with the trust, in the same read; an image
// without the file (built before images said) has zero records.
func TestReadRecords(t *testing.T) {
	pub, _, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := trust.Archive(trust.Warn, trust.EditsRefuse, []trust.KeyFile{{Name: "k.pub", Data: trust.MarshalPublic(pub, "test")}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		files map[string][]byte
		want  Records
	}{
		{map[string][]byte{"/init": []byte("warmboot"), "/" + RecordsFile: Current.Marshal()}, Current},
		{map[string][]byte{"/init": []byte("warmboot")}, Records{}},
	} {
		base, err := handoff.Segment(tc.files)
		if err != nil {
			t.Fatal(err)
		}
		root := host(t, map[string][]byte{"vmlinuz": testtool.BzImage(4096), "initramfs.cpio": append(base, archive...)})
		im, err := Find(root, Dir)
		if err != nil {
			t.Fatal(err)
		}
		c, _, err := im.Read(root)
		if err != nil || c.Records != tc.want || c.Trust.Policy != trust.Warn {
			t.Errorf("Read = %+v, %v; want records %+v and the trust", c, err, tc.want)
		}
	}
}
