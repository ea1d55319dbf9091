package nextboot

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/choose"
	"github.com/warmboot/warmboot/boot/clog"
	"github.com/warmboot/warmboot/boot/efivar"
)

// LoaderVar reads one of systemd's Boot Loader Interface strings
// (LoaderEntryDefault, LoaderEntryOneShot) from v: ok is false when it is
// unset, cannot be read, or is "@saved" (systemd-boot then boots the
// entry it booted last, a record warmboot does not keep); what to say is
// returned.
func LoaderVar(v efivar.Vars, name string) (s string, ok bool, note *clog.Note) {
	s, err := v.ReadString(name, efivar.Loader)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", false, nil
	case err != nil:
		n := clog.Warningf("ignoring systemd's %s: %v", name, err)
		return "", false, &n
	case strings.TrimSpace(s) == "":
		return "", false, nil
	case strings.EqualFold(s, "@saved"):
		n := clog.Warningf("ignoring systemd's %s %q: warmboot does not save the entry booted last", name, s)
		return "", false, &n
	}
	return s, true, nil
}

// LoaderDefault applies systemd's LoaderEntryDefault (bootctl
// set-default), read from v, to m's default, as the bootloader does where
// the firmware starts it: the result is the configs' default for
// everything after (a default bless kept gives way when it changes). The
// running system applies it too (HostVars), so that what warmswap records
// as the configs' default, and what it says boots next, are the
// bootloader's. It returns m and what to say.
func LoaderDefault(m choose.Menu, v efivar.Vars) (choose.Menu, []clog.Note) {
	if len(m.Entries) == 0 {
		return m, nil
	}
	id, ok, note := LoaderVar(v, efivar.LoaderEntryDefault)
	var out []clog.Note
	if note != nil {
		out = append(out, *note)
	}
	if !ok {
		return m, out
	}
	cfg := m.Entries[m.Default]
	switch i := bls.FindSystemdID(m.Entries, id); {
	case i < 0:
		out = append(out, clog.Warningf("systemd's LoaderEntryDefault %q (bootctl set-default) names no BLS entry; the default is the configs' %q", id, cfg.Label))
	case i == m.Default:
		out = append(out, clog.Notef("systemd's LoaderEntryDefault: default %q (bootctl set-default), as the configs say", cfg.Label))
	default:
		out = append(out, clog.Notef("systemd's LoaderEntryDefault: default %q (bootctl set-default; the configs' default is %q)", m.Entries[i].Label, cfg.Label))
		m.Default = i
	}
	return m, out
}

// HostVars are the running system's UEFI variables under root.
func HostVars(root string) efivar.Vars {
	return efivar.Vars{Dir: filepath.Join(root, efivar.DefaultDir)}
}
