// Package choose ranks the entries of every config found into one menu,
// picks the default, and gives the order in which entries are tried when
// the chosen one cannot be loaded.
//
// Configs are ranked by format (BLS, then GRUB, then syslinux: see
// entry.Format), then by device and file name so the order is the same on
// every boot. Within a config, entries keep the config's own order. The
// menu's default is the default of the highest-ranked config that has
// entries.
package choose

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
)

// Menu is what the bootloader offers.
type Menu struct {
	Entries []entry.Entry
	// Default indexes Entries; meaningless when Entries is empty.
	Default int
	// Timeout is from the highest-ranked config that sets one, nil if none.
	Timeout *time.Duration
	// EnvWrites are the grubenv changes of the configs offered, to make
	// when an entry is booted.
	EnvWrites []entry.EnvWrite
	// Warnings from every config, in rank order.
	Warnings []entry.Warning
}

var formatRank = map[entry.Format]int{entry.BLS: 0, entry.GRUB: 1, entry.Syslinux: 2}

// Rank merges configs into one menu.
func Rank(configs []*entry.Config) Menu {
	cs := append([]*entry.Config(nil), configs...)
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if formatRank[a.Format] != formatRank[b.Format] {
			return formatRank[a.Format] < formatRank[b.Format]
		}
		if a.Source.Device != b.Source.Device {
			return a.Source.Device < b.Source.Device
		}
		return a.Source.File < b.Source.File
	})
	var m Menu
	defSet := false
	for _, c := range cs {
		m.Warnings = append(m.Warnings, c.Warnings...)
		if len(c.Entries) == 0 {
			continue
		}
		if !defSet {
			m.Default = len(m.Entries) + c.Default
			m.Timeout = c.Timeout
			defSet = true
		}
		m.Entries = append(m.Entries, c.Entries...)
		m.EnvWrites = append(m.EnvWrites, c.EnvWrites...)
	}
	return m
}

// Find returns the index of the first entry whose ID is id, else of the
// first whose label is id, or -1.
func (m Menu) Find(id string) int {
	for i, e := range m.Entries {
		if e.ID == id {
			return i
		}
	}
	for i, e := range m.Entries {
		if e.Label == id {
			return i
		}
	}
	return -1
}

// Select finds an entry as an operator names it: by id, by label, or by
// its number in the menu ("2", as the menu and "warmboot list" show it).
// The error lists the ids to choose from.
func (m Menu) Select(name string) (int, error) {
	if i := m.Find(name); i >= 0 {
		return i, nil
	}
	if n, err := strconv.Atoi(name); err == nil && n >= 1 && n <= len(m.Entries) {
		return n - 1, nil
	}
	ids := make([]string, 0, len(m.Entries))
	for _, e := range m.Entries {
		ids = append(ids, e.ID)
	}
	if len(ids) == 0 {
		return -1, fmt.Errorf("%w %q: there are no boot entries", ErrNoEntry, name)
	}
	return -1, fmt.Errorf("%w %q; entries: %s (warmboot list -root DIR shows them)", ErrNoEntry, name, strings.Join(ids, ", "))
}

// Order returns the indexes to try when booting first: first itself, then
// every other entry in menu order. A boot that fails to load falls through
// to the next entry rather than stopping.
func (m Menu) Order(first int) []int {
	if first < 0 || first >= len(m.Entries) {
		first = m.Default
	}
	out := make([]int, 0, len(m.Entries))
	out = append(out, first)
	for i := range m.Entries {
		if i != first {
			out = append(out, i)
		}
	}
	return out
}

// WithNetwork puts the network's entries in the menu beside the disks':
// after them (first false: warmboot.net=last) or before them
// (warmboot.net=first). The default, and the timeout, are those of the
// menu that comes first and has entries, except that a network config
// asking to wait for a choice (its default boots no Linux kernel:
// pxelinux's DEFAULT local, LOCALBOOT) defers to the disks': booting the
// local disk is what it asks for.
func WithNetwork(local, network Menu, first bool) Menu {
	if first && len(local.Entries) > 0 && network.Timeout != nil && *network.Timeout < 0 {
		m := WithNetwork(local, network, false)
		// The order asked for, the disks' default.
		m.Entries = append(append([]entry.Entry(nil), network.Entries...), local.Entries...)
		m.Warnings = append(append([]entry.Warning(nil), network.Warnings...), local.Warnings...)
		m.Default = len(network.Entries) + local.Default
		return m
	}
	a, b := local, network
	if first {
		a, b = network, local
	}
	m := Menu{
		Entries:   append(append([]entry.Entry(nil), a.Entries...), b.Entries...),
		EnvWrites: append(append([]entry.EnvWrite(nil), local.EnvWrites...), network.EnvWrites...),
		Warnings:  append(append([]entry.Warning(nil), a.Warnings...), b.Warnings...),
	}
	switch {
	case len(a.Entries) > 0:
		m.Default, m.Timeout = a.Default, a.Timeout
	case len(b.Entries) > 0:
		m.Default, m.Timeout = len(a.Entries)+b.Default, b.Timeout
	}
	return m
}
