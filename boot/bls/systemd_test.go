package bls

import (
	"testing"

	"github.com/warmboot/warmboot/boot/entry"
)

func TestFindSystemdID(t *testing.T) {
	bl := func(id string) entry.Entry { return entry.Entry{ID: id, Format: entry.BLS} }
	es := []entry.Entry{bl("fedora-6.1"), bl("Debian-6.12"), {ID: "gnulinux-simple", Format: entry.GRUB}}
	for _, tt := range []struct {
		id   string
		want int
	}{
		{"fedora-6.1.conf", 0},
		{"fedora-6.1", 0},
		{"FEDORA-6.1.CONF", 0},
		{"debian-6.12.conf", 1},    // systemd-boot lower-cases ids
		{"fedora-6.1+3-0.conf", 0}, // older systemd-boot kept the counter
		{"debian-*", 1},            // LoaderEntryDefault may be a glob
		{"gnulinux-simple", -1},    // not a BLS entry: systemd-boot has no such id
		{"fedora-6.1[.conf", -1},   // a bad glob matches itself only
		{"fedora-6.10.conf", -1},
	} {
		if got := FindSystemdID(es, tt.id); got != tt.want {
			t.Errorf("FindSystemdID(%q) = %d, want %d", tt.id, got, tt.want)
		}
	}
}

func TestSystemdID(t *testing.T) {
	if got := SystemdID(entry.Entry{ID: "Fedora-6.2", Format: entry.BLS}); got != "fedora-6.2.conf" {
		t.Errorf("SystemdID = %q", got)
	}
}
