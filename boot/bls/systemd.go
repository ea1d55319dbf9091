package bls

import (
	"path"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
)

// SystemdID is e's id as systemd-boot knows it, and as bootctl
// set-default, set-oneshot and systemd-boot's LoaderEntry* variables name
// it: in systemd's src/boot/boot.c (boot_entry_add_type1,
// boot_entry_parse_tries) a Type #1 entry's id is its file name with
// ".conf" and without the "+LEFT-DONE" boot counter, lower-cased.
// warmboot's BLS ids are the file name without both.
//
// A Type #2 entry's id is its file name (".efi" kept) without the
// counter, lower-cased, as warmboot's is.
func SystemdID(e entry.Entry) string {
	if e.UKI != nil {
		return strings.ToLower(e.ID)
	}
	return strings.ToLower(e.ID) + ".conf"
}

// FindSystemdID returns the first BLS entry of es that id, a systemd-boot
// entry id or a glob of them (systemd-boot matches with efi_fnmatch),
// names, or -1. An id with a counter (older systemd-boot kept it) names
// the entry without.
func FindSystemdID(es []entry.Entry, id string) int {
	pat := strings.TrimSuffix(strings.ToLower(id), ".conf")
	if base, _, ok := ParseCounter(pat); ok {
		pat = base
	}
	for i, e := range es {
		if e.Format != entry.BLS {
			continue
		}
		eid := strings.ToLower(e.ID)
		if ok, err := path.Match(pat, eid); ok || err != nil && pat == eid {
			return i
		}
	}
	return -1
}
