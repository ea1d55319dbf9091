package loader

import (
	"errors"
	"io/fs"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/nextboot"
)

// systemd's Boot Loader Interface (https://systemd.io/BOOT_LOADER_INTERFACE/)
// lets the OS choose what the boot loader boots through two UEFI
// variables, which warmboot honours when it is the boot loader the
// firmware starts (a LinuxBoot payload, or the UEFI application):
//
//   - LoaderEntryDefault (bootctl set-default ID) is the default entry,
//     in place of the configs' own. It is the configs' default for
//     everything that follows: a default kept by "warmboot bless" gives
//     way when it changes, as it does when loader.conf's changes.
//   - LoaderEntryOneShot (bootctl set-oneshot ID) boots an entry once.
//     systemd-boot removes it as soon as it reads it, whatever then
//     boots; so does warmboot, and one it cannot remove is ignored with
//     a warning (it would boot at every boot). It ranks as warmboot's own
//     one-shot next entry does (package trial: after a failed trial's
//     fallback and a pending next entry, before the kept default and the
//     passing over of entries out of tries), and like it is a trial
//     unless it is last-known-good: asked for, not yet known to come up.
//     It is not for a boot a running system handed over to (warmswap):
//     that boot is the handoff's, and the variable is left for the next
//     boot through the firmware.
//
// An ID is systemd-boot's entry id. In systemd's src/boot/boot.c
// (boot_entry_add_type1, boot_entry_parse_tries) a Type #1 entry's id is
// its file name with ".conf" and without the "+LEFT-DONE" boot counter,
// lower-cased; the variables' values are lower-cased too and matched
// with efi_fnmatch (a glob). Older systemd-boot kept the counter in the
// id. warmboot's BLS ids are the file name without ".conf" and the
// counter (package bls), so an ID matches an entry when, lower-cased,
// without ".conf" and without a counter, it matches the entry's id as a
// glob. Only BLS entries have such ids.

// loaderVars reads systemd's LoaderEntryDefault, applied to m's default,
// and, unless a running system handed over, LoaderEntryOneShot, removed
// before it is used: oneShot is the id of the entry it names.
func (l *Loader) loaderVars(m choose.Menu) (_ choose.Menu, oneShot string) {
	if l.disks.EFI == nil || len(m.Entries) == 0 {
		return m, ""
	}
	v, err := l.disks.EFI()
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return m, "" // no UEFI: nothing to read
	case err != nil:
		l.warn("UEFI variables: %v; not reading systemd's LoaderEntryDefault and LoaderEntryOneShot (bootctl set-default, set-oneshot)", err)
		return m, ""
	}
	m, notes := nextboot.LoaderDefault(m, v)
	clog.Say(l.log, notes...)
	id, ok, note := nextboot.LoaderVar(v, efivar.LoaderEntryOneShot)
	if note != nil {
		clog.Say(l.log, *note)
	}
	switch {
	case !ok:
		return m, ""
	case l.handoff != nil:
		l.say("systemd's LoaderEntryOneShot %q (bootctl set-oneshot) is left for the next boot through the firmware: this boot is the handoff's", id)
		return m, ""
	}
	// Removed first, as systemd-boot does: a one-shot entry that stays
	// boots at every boot, and a bad one would never let go.
	if l.cfg.DryRun {
		l.say("-dry-run: not removing systemd's LoaderEntryOneShot %q", id)
	} else if err := v.Delete(efivar.LoaderEntryOneShot, efivar.Loader); err != nil && !errors.Is(err, fs.ErrNotExist) {
		l.warn("ignoring systemd's LoaderEntryOneShot %q (bootctl set-oneshot): it cannot be removed (%v), so it would boot at every boot", id, err)
		return m, ""
	}
	i := bls.FindSystemdID(m.Entries, id)
	if i < 0 {
		l.warn("systemd's LoaderEntryOneShot %q (bootctl set-oneshot) names no BLS entry; removed it, as systemd-boot does", id)
		return m, ""
	}
	return m, m.Entries[i].ID
}
