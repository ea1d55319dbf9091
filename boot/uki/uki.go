package uki

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// The sections of a UKI warmboot reads or measures, by name.
const (
	Linux   = ".linux"
	OSRel   = ".osrel"
	Cmdline = ".cmdline"
	Initrd  = ".initrd"
	Ucode   = ".ucode"
	Uname   = ".uname"
	Profile = ".profile"
)

// Measured lists the sections sd-stub measures into PCR 11, in the order
// it measures them (systemd's src/fundamental/uki.h, unified_sections):
// the order is the enum's, not the file's. .pcrsig is not measured (it
// signs the result).
var Measured = []string{Linux, OSRel, Cmdline, Initrd, Ucode, ".splash", ".dtb", Uname, ".sbat", ".pcrpkey", Profile, ".dtbauto", ".hwids", ".efifw"}

// singletons may appear once in the base and once in each profile.
var singletons = []string{Linux, OSRel, Cmdline, Initrd, Ucode, ".splash", ".dtb", Uname, ".sbat", ".pcrsig", ".pcrpkey"}

// MaxProfiles bounds the profiles of one UKI (systemd allows 256).
const MaxProfiles = 256

// UKI is a parsed unified kernel image or add-on: its PE headers and its
// sections grouped into the base and the profiles.
type UKI struct {
	PE *PE
	// Base are the sections before the first .profile, by name.
	Base map[string]Section
	// Profiles are the sections after each .profile (the .profile
	// section itself included), by name; empty for a UKI without
	// profiles.
	Profiles []map[string]Section
}

// Open parses a UKI or add-on: PE headers (ParsePE), then the UKI
// sections, each singleton at most once in the base and in each profile.
func Open(r io.ReaderAt, size int64) (*UKI, error) {
	pe, err := ParsePE(r, size)
	if err != nil {
		return nil, err
	}
	u := &UKI{PE: pe, Base: map[string]Section{}}
	cur := u.Base
	where := "the base"
	for _, s := range pe.Sections {
		if s.Name == Profile {
			if len(u.Profiles) == MaxProfiles {
				return nil, bad("more than %d profiles", MaxProfiles)
			}
			cur = map[string]Section{}
			u.Profiles = append(u.Profiles, cur)
			where = fmt.Sprintf("profile %d", len(u.Profiles)-1)
		}
		if !slices.Contains(Measured, s.Name) && s.Name != ".pcrsig" {
			continue // the stub's own code and data
		}
		if s.Size > s.RawSize {
			// sd-stub would read zeros past the raw data; a payload
			// section is data the file carries, all of it.
			return nil, bad("section %s has VirtualSize %d larger than its %d bytes of raw data", s.Name, s.Size, s.RawSize)
		}
		if _, dup := cur[s.Name]; dup && slices.Contains(singletons, s.Name) {
			// sd-stub takes the first; a verifier or a reader that
			// took the other would see another kernel.
			return nil, bad("section %s appears twice in %s", s.Name, where)
		}
		if _, dup := cur[s.Name]; !dup {
			cur[s.Name] = s
		}
	}
	return u, nil
}

// NumProfiles is how many profiles the UKI offers: 1 when it has no
// .profile section.
func (u *UKI) NumProfiles() int { return max(1, len(u.Profiles)) }

// Sections are what profile i boots: the base's sections, each replaced
// by the profile's section of the same name. For a UKI without profiles
// only i == 0 is valid, and gives the base.
func (u *UKI) Sections(i int) (map[string]Section, error) {
	if i < 0 || i >= u.NumProfiles() {
		return nil, fmt.Errorf("profile %d does not exist (the UKI has %d)", i, u.NumProfiles())
	}
	out := make(map[string]Section, len(u.Base))
	for k, v := range u.Base {
		out[k] = v
	}
	if len(u.Profiles) > 0 {
		for k, v := range u.Profiles[i] {
			out[k] = v
		}
	}
	return out, nil
}

// Text reads a text section (.cmdline, .uname) as the stub does: the
// contents up to the first NUL, bounded by MaxText.
func Text(r io.ReaderAt, s Section) (string, error) {
	b, err := s.Read(r, MaxText)
	if err != nil {
		return "", err
	}
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b), nil
}

// CleanCmdline is a command line as sd-stub hands it to the kernel
// (mangle_stub_cmdline): control characters are spaces, and leading and
// trailing whitespace (the newline ukify and objcopy users leave) is
// dropped.
func CleanCmdline(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c == 0x7f {
			b[i] = ' '
		}
	}
	return strings.Trim(string(b), " ")
}

// Info is what a menu shows of one profile of a UKI.
type Info struct {
	// Title, Version and SortKey follow the Boot Loader Specification's
	// Type #2 rules from .osrel (and .uname for the version).
	Title, Version, SortKey string
	// Uname is the kernel's release from .uname, empty without one.
	Uname string
	// ProfileID and ProfileTitle are the profile's ID= and TITLE=,
	// empty for a UKI without profiles.
	ProfileID, ProfileTitle string
	// Cmdline is the embedded .cmdline, HasCmdline whether there is one.
	Cmdline    string
	HasCmdline bool
	// Sections names the sections the profile boots, in file order.
	Sections []string
}

// Describe reads what the menu shows of profile i.
func (u *UKI) Describe(r io.ReaderAt, i int) (Info, error) {
	secs, err := u.Sections(i)
	if err != nil {
		return Info{}, err
	}
	var info Info
	for _, s := range u.PE.Sections {
		if t, ok := secs[s.Name]; ok && t == s {
			info.Sections = append(info.Sections, s.Name)
		}
	}
	if _, ok := secs[Linux]; !ok {
		return Info{}, bad("no %s section: it carries no kernel", Linux)
	}
	osrel := map[string]string{}
	if s, ok := secs[OSRel]; ok {
		b, err := s.Read(r, MaxText)
		if err != nil {
			return Info{}, err
		}
		if osrel, err = ParseOSRelease(b); err != nil {
			return Info{}, bad("section %s: %v", OSRel, err)
		}
	}
	// As systemd-boot picks them (bootspec_pick_name_version_sort_key).
	info.Title = first(osrel, "PRETTY_NAME", "IMAGE_ID", "NAME", "ID")
	info.SortKey = first(osrel, "IMAGE_ID", "ID")
	info.Version = first(osrel, "IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID")
	if s, ok := secs[Uname]; ok {
		if info.Uname, err = Text(r, s); err != nil {
			return Info{}, err
		}
		info.Uname = strings.TrimSpace(info.Uname)
	}
	if info.Title == "" {
		return Info{}, bad("no %s section with PRETTY_NAME, IMAGE_ID, NAME or ID: systemd-boot does not list it either (build it with ukify --os-release)", OSRel)
	}
	if s, ok := secs[Cmdline]; ok {
		c, err := Text(r, s)
		if err != nil {
			return Info{}, err
		}
		info.Cmdline, info.HasCmdline = CleanCmdline(c), true
	}
	if len(u.Profiles) > 0 {
		b, err := u.Profiles[i][Profile].Read(r, MaxText)
		if err != nil {
			return Info{}, err
		}
		p, err := ParseOSRelease(b)
		if err != nil {
			return Info{}, bad("section %s of profile %d: %v", Profile, i, err)
		}
		info.ProfileID, info.ProfileTitle = p["ID"], p["TITLE"]
	}
	return info, nil
}

func first(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := m[k]; v != "" {
			return v
		}
	}
	return ""
}
