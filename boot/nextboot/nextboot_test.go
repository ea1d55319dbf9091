package nextboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/internal/testtool"
)

var now = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

// menu is three entries under a temporary root, "b" the configs'
// default; "c" has no kernel file (what it boots is unknown).
func menu(t *testing.T) choose.Menu {
	t.Helper()
	root := t.TempDir()
	for name, data := range map[string][]byte{"vmlinuz-a": testtool.BzImage(4096), "vmlinuz-b": testtool.BzImage(8192), "initrd-b": []byte("initrd b")} {
		if err := os.WriteFile(filepath.Join(root, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e := func(id, kernel string, initrds ...string) entry.Entry {
		return entry.Entry{ID: id, Label: strings.ToUpper(id), Kernel: kernel, Initrds: initrds, Cmdline: "root=/dev/vda2 " + id, Root: root, TriesLeft: -1,
			Source: entry.Source{Device: "vda1", File: "/loader/entries/" + id + ".conf", Line: 1}}
	}
	return choose.Menu{Entries: []entry.Entry{e("a", "/vmlinuz-a"), e("b", "/vmlinuz-b", "/initrd-b"), e("c", "/vmlinuz-c")}, Default: 1}
}

func TestBoots(t *testing.T) {
	m := menu(t)
	boots := Boots(m, nil)
	a, b := boots(0), boots(1)
	if len(a) != 64 || len(b) != 64 || a == b {
		t.Errorf("Boots(a), Boots(b) = %q, %q; want two different SHA-256 digests", a, b)
	}
	if got := boots(2); got != "" {
		t.Errorf("Boots(c) = %q, want \"\" (its kernel is missing)", got)
	}
	// Taken once: a file changed since is not read again.
	os.WriteFile(filepath.Join(m.Entries[0].Root, "vmlinuz-a"), testtool.BzImage(6144), 0o644)
	if got := boots(0); got != a {
		t.Errorf("Boots(a) again = %q, want %q (memoized)", got, a)
	}
	if got := Boots(m, nil)(0); got == a {
		t.Error("a new Boots read the old digest of a changed kernel")
	}
}

func TestOf(t *testing.T) {
	m := menu(t)
	boots := Boots(m, nil)
	ref := func(i int) *state.Ref {
		e := m.Entries[i]
		return &state.Ref{ID: e.ID, Source: e.Source, Boots: boots(i)}
	}
	at := now.Add(-time.Hour)
	for _, tt := range []struct {
		name  string
		s     state.State
		entry int
		why   string
		notes []string // each a part of a note, in order
	}{
		{name: "no state", entry: 1, why: "the configs' default"},
		{name: "kept default", s: state.State{Default: &state.Kept{Ref: *ref(0), Over: ref(1)}}, entry: 0,
			why: `chosen by the bootloader's state over the configs' default "B"`, notes: []string{`default: "A", kept by "warmboot bless" after a warm swap (the configs' default is "B")`}},
		{name: "kept default, configs' default changed", s: state.State{Default: &state.Kept{Ref: *ref(0), Over: ref(2)}}, entry: 1,
			why: "the configs' default", notes: []string{`the configs' default changed since "a" was kept as the default`}},
		{name: "kept default, configs' default boots something else", s: state.State{Default: &state.Kept{Ref: *ref(0), Over: &state.Ref{ID: "b", Boots: strings.Repeat("0", 64)}}}, entry: 1,
			why: "the configs' default", notes: []string{`the configs' default changed since "a"`}},
		{name: "pinned", s: state.State{Default: &state.Kept{Ref: *ref(2), Pinned: true}}, entry: 2,
			why: `chosen by the bootloader's state over the configs' default "B"`, notes: []string{`pinned (warmswap -commit -pin, warmboot bless -pin)`}},
		{name: "one-shot", s: state.State{Next: &state.Attempt{Entry: *ref(0), At: at, By: "warmswap"}}, entry: 0,
			why: `chosen by the bootloader's state over the configs' default "B"`, notes: []string{`booting the one-shot next entry "A" (asked by warmswap at 2026-12-04T08:00:00Z)`}},
		{name: "trial pending", s: state.State{LastGood: ref(0), Trial: &state.Attempt{Entry: *ref(1), At: at, By: "warmswap", Fallback: ref(0)}}, entry: 0,
			why: `chosen by the bootloader's state over the configs' default "B"`, notes: []string{`the trial of "b" (started by warmswap at 2026-12-04T08:00:00Z) failed`, `falling back to "A"`}},
		{name: "out of tries", s: state.State{LastGood: ref(2), TriesLeft: map[string]int{"b": 0}}, entry: 2,
			why: `chosen by the bootloader's state over the configs' default "B"`, notes: []string{`passing over "B": its last trial failed`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := Of(tt.s, m, nil, now)
			if n.Entry != tt.entry || n.Default != 1 || n.Why(m) != tt.why {
				t.Errorf("Of = entry %d (default %d), %q; want %d (1), %q", n.Entry, n.Default, n.Why(m), tt.entry, tt.why)
			}
			if n.ByState() != (tt.entry != 1) {
				t.Errorf("ByState() = %v, want %v", n.ByState(), tt.entry != 1)
			}
			if len(n.Notes) != len(tt.notes) {
				t.Fatalf("notes = %+v, want %d like %q", n.Notes, len(tt.notes), tt.notes)
			}
			for i, want := range tt.notes {
				if !strings.Contains(n.Notes[i].Msg, want) {
					t.Errorf("note %d = %q, want it to contain %q", i, n.Notes[i].Msg, want)
				}
			}
		})
	}
	if n := Of(state.State{}, choose.Menu{}, nil, now); n.Entry != -1 || n.Default != -1 || n.Notes != nil || n.Why(choose.Menu{}) != "nothing: no boot entries" {
		t.Errorf("Of(empty menu) = %+v, want -1, -1", n)
	}
}

// Host reads the state where warmswap and bless keep it; a file that
// does not parse is empty, and said.
func TestHost(t *testing.T) {
	m := menu(t)
	root := t.TempDir()
	r, err := os.OpenRoot(root)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	file := state.HostFile(root)
	if err := state.Save(r, file, state.State{Default: &state.Kept{Ref: state.Ref{ID: "c"}, Pinned: true}}); err != nil {
		t.Fatal(err)
	}
	if n, err := Host(root, m, nil, now); err != nil || n.Entry != 2 {
		t.Errorf("Host = %+v, %v; want entry 2 (pinned)", n, err)
	}
	if err := os.WriteFile(filepath.Join(root, file), []byte("garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := Host(root, m, nil, now)
	if err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("Host with a bad file: err %v, want one naming %s", err, file)
	}
	if diff := cmp.Diff(Next{Entry: 1, Default: 1}, n); diff != "" {
		t.Errorf("Host with a bad file (-want +got):\n%s", diff)
	}
}
