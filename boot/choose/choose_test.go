package choose

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/entry"
)

func cfg(f entry.Format, dev, file string, def int, timeout time.Duration, ids ...string) *entry.Config {
	c := &entry.Config{Format: f, Source: entry.Source{Device: dev, File: file}, Default: def, Timeout: &timeout}
	for _, id := range ids {
		c.Entries = append(c.Entries, entry.Entry{ID: id, Format: f})
	}
	c.Warnings = []entry.Warning{{Msg: dev + file}}
	return c
}

func ids(m Menu) []string {
	var out []string
	for _, e := range m.Entries {
		out = append(out, e.ID)
	}
	return out
}

func TestRank(t *testing.T) {
	m := Rank([]*entry.Config{
		cfg(entry.Syslinux, "vda1", "/extlinux.conf", 1, 7*time.Second, "s0", "s1"),
		cfg(entry.GRUB, "vdb2", "/grub/grub.cfg", 2, 3*time.Second, "g0", "g1", "g2"),
		cfg(entry.BLS, "vdb2", "/loader/entries", 0, 0),
		cfg(entry.GRUB, "vda2", "/grub/grub.cfg", 0, 5*time.Second, "h0"),
	})
	if diff := cmp.Diff([]string{"h0", "g0", "g1", "g2", "s0", "s1"}, ids(m)); diff != "" {
		t.Errorf("Rank order (-want +got):\n%s", diff)
	}
	if m.Default != 0 || *m.Timeout != 5*time.Second {
		t.Errorf("Default, Timeout = %d, %v; want 0, 5s (from vda2's grub.cfg)", m.Default, *m.Timeout)
	}
	if diff := cmp.Diff([]string{"vdb2/loader/entries", "vda2/grub/grub.cfg", "vdb2/grub/grub.cfg", "vda1/extlinux.conf"}, entry.Strings(m.Warnings)); diff != "" {
		t.Errorf("Warnings (-want +got):\n%s", diff)
	}
}

func TestRankDefaultFromFirstConfigWithEntries(t *testing.T) {
	m := Rank([]*entry.Config{
		cfg(entry.BLS, "vda2", "/loader/entries", 1, time.Second, "b0", "b1"),
		cfg(entry.GRUB, "vda2", "/grub/grub.cfg", 1, time.Second, "g0", "g1"),
	})
	if m.Default != 1 || m.Entries[m.Default].ID != "b1" {
		t.Errorf("Default = %d, want 1 (b1)", m.Default)
	}
}

func TestOrder(t *testing.T) {
	m := Menu{Entries: make([]entry.Entry, 4), Default: 2}
	for _, tt := range []struct {
		first int
		want  []int
	}{
		{2, []int{2, 0, 1, 3}},
		{0, []int{0, 1, 2, 3}},
		{3, []int{3, 0, 1, 2}},
		{-1, []int{2, 0, 1, 3}},
		{9, []int{2, 0, 1, 3}},
	} {
		if diff := cmp.Diff(tt.want, m.Order(tt.first)); diff != "" {
			t.Errorf("Order(%d) (-want +got):\n%s", tt.first, diff)
		}
	}
}

func TestFind(t *testing.T) {
	m := Menu{Entries: []entry.Entry{{ID: "a", Label: "b"}, {ID: "b", Label: "Debian"}, {ID: "c", Label: "Debian"}}}
	for _, tc := range []struct {
		want string
		i    int
	}{{"a", 0}, {"b", 1}, {"Debian", 1}, {"c", 2}, {"nope", -1}} {
		if got := m.Find(tc.want); got != tc.i {
			t.Errorf("Find(%q) = %d, want %d (ids before labels, first match)", tc.want, got, tc.i)
		}
	}
}

func TestWithNetwork(t *testing.T) {
	ten, five, wait := 10*time.Second, 5*time.Second, time.Duration(-1)
	local := Menu{Entries: []entry.Entry{{ID: "a"}, {ID: "b"}}, Default: 1, Timeout: &ten}
	net := Menu{Entries: []entry.Entry{{ID: "n"}}, Timeout: &five, Warnings: []entry.Warning{{Msg: "w"}}}
	ids := func(m Menu) string {
		var s []string
		for _, e := range m.Entries {
			s = append(s, e.ID)
		}
		return strings.Join(s, ",") + " default " + m.Entries[m.Default].ID + " timeout " + m.Timeout.String()
	}
	for _, tc := range []struct {
		local, net Menu
		first      bool
		want       string
	}{
		{local, net, false, "a,b,n default b timeout 10s"},
		{local, net, true, "n,a,b default n timeout 5s"},
		{Menu{}, net, false, "n default n timeout 5s"},
		{local, Menu{}, true, "a,b default b timeout 10s"},
		// pxelinux's DEFAULT local: the disks' default and timeout.
		{local, Menu{Entries: net.Entries, Timeout: &wait}, true, "n,a,b default b timeout 10s"},
		{Menu{}, Menu{Entries: net.Entries, Timeout: &wait}, true, "n default n timeout -1ns"},
	} {
		if got := ids(WithNetwork(tc.local, tc.net, tc.first)); got != tc.want {
			t.Errorf("WithNetwork(first %v) = %s, want %s", tc.first, got, tc.want)
		}
	}
}
