// Package entry holds the pure data types that flow through the boot
// pipeline: a boot entry as a config file describes it, and a config as a
// parser returns it. No code here touches the machine.
package entry

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Format names the kind of config an entry came from.
type Format string

// The formats warmboot reads, in the order it prefers them: BLS entries are
// written for exactly this purpose (one file per kernel, machine-readable),
// GRUB configs are generated from the same data but are a script, and
// syslinux configs are the oldest and least structured.
const (
	BLS      Format = "bls"
	GRUB     Format = "grub"
	Syslinux Format = "syslinux"
	// Explicit is a kernel named directly, not by a config (Explicit).
	Explicit Format = "explicit"
	// IPXE is what an iPXE script fetched from the network boots.
	IPXE Format = "ipxe"
)

// Source says where an entry was defined, so every message about it can
// point the user at the file and line to fix.
type Source struct {
	// Device is the block device the config was found on ("vda2"), empty
	// when the config was read from a directory.
	Device string `json:"device,omitempty"`
	// File is the config file, relative to the root of its filesystem.
	File string `json:"file"`
	// Line is the 1-based line the entry starts on, 0 if unknown.
	Line int `json:"line,omitempty"`
}

func (s Source) String() string {
	loc := s.File
	if s.Line > 0 {
		loc = fmt.Sprintf("%s:%d", s.File, s.Line)
	}
	if s.Device != "" {
		return s.Device + ":" + loc
	}
	return loc
}

// ParseSource reads a Source back from its String form, for records
// written before they kept sources as values (version 1 of booted.json
// and of the state file): "vda1:/loader/entries/x+3.conf:1" is device
// vda1, file /loader/entries/x+3.conf, line 1; "/grub/grub.cfg" (read
// from a directory, no line) has neither device nor line. Nothing else
// should parse a source: new records carry the value.
//
// A string names a device when it has a colon and does not start with
// "/" (a directory's files are absolute); a final ":N", N a line number
// as String writes it (positive, no leading zero), is the line. The
// empty string is the zero Source. String(ParseSource(s)) is s whenever
// ParseSource succeeds, and ParseSource(src.String()) is src for every
// source warmboot makes: a device name without a colon, and a file that
// does not end in ":N" and, without a device, is absolute or has no
// colon ("(warmswap -kernel)").
func ParseSource(s string) (Source, error) {
	var src Source
	rest := s
	if i := strings.IndexByte(rest, ':'); i >= 0 && !strings.HasPrefix(rest, "/") {
		if i == 0 {
			return Source{}, fmt.Errorf("source %q: no device before the colon", s)
		}
		src.Device, rest = rest[:i], rest[i+1:]
	}
	if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		if n, err := strconv.Atoi(rest[i+1:]); err == nil && n > 0 && strconv.Itoa(n) == rest[i+1:] {
			src.Line, rest = n, rest[:i]
		}
	}
	src.File = rest
	return src, nil
}

// At names path p (absolute, on the same filesystem as the config) for
// messages: "vda2:/vmlinuz", or p alone for a directory.
func (s Source) At(p string) string {
	if s.Device != "" {
		return s.Device + ":" + p
	}
	return p
}

// At names path p (absolute, on the filesystem holding the entry's kernel)
// for messages: "nvme0n1p2:/vmlinuz"; for a network entry, the URL p
// without its password.
func (e Entry) At(p string) string {
	if e.Net != nil {
		if u, err := url.Parse(p); err == nil {
			return u.Redacted()
		}
		return p
	}
	if d := e.FilesDevice(); d != "" {
		return d + ":" + p
	}
	return p
}

// FilesDevice is the block device holding the entry's kernel and initrds,
// empty for a directory.
func (e Entry) FilesDevice() string {
	if e.Device != "" {
		return e.Device
	}
	return e.Source.Device
}

// Entry is one bootable Linux kernel as a config describes it.
type Entry struct {
	// ID identifies the entry within its config: the BLS file name without
	// ".conf" and boot-counting suffix, the GRUB menuentry id (or its title
	// path), the syslinux LABEL.
	ID string `json:"id"`
	// Label is the human-readable title shown in the menu.
	Label string `json:"label"`
	// Format is the kind of config the entry came from.
	Format Format `json:"format"`
	// Kernel is the kernel path, relative to the root of the filesystem
	// the config lives on (always with a leading "/").
	Kernel string `json:"kernel"`
	// Initrds are the initramfs paths, in the order they are concatenated.
	Initrds []string `json:"initrds"`
	// Cmdline is the kernel command line.
	Cmdline string `json:"cmdline"`
	// Source is where the entry was defined.
	Source Source `json:"source"`
	// Root is the host directory the filesystem holding Kernel and Initrds
	// is available at (a mount point, or the -root directory of "list").
	// It is not part of the stable JSON form.
	Root string `json:"-"`
	// Device is the block device holding Kernel and Initrds when it is not
	// the one the config is on (GRUB's "search --set=root", blscfg on a
	// separate /boot); empty when they share the config's device.
	Device string `json:"device,omitempty"`

	// MenuPath is a GRUB entry's place in GRUB's menu as its "default"
	// and "next_entry" take it: the ids (else titles) of its submenus and
	// its own, joined by ">" ("gnulinux-advanced-UUID>gnulinux-6.1.0-10-
	// amd64-advanced-UUID"); empty for other formats.
	MenuPath string `json:"menu_path,omitempty"`

	// BLS ordering fields; empty for other formats.
	Version   string `json:"version,omitempty"`
	SortKey   string `json:"sort_key,omitempty"`
	MachineID string `json:"machine_id,omitempty"`
	// TriesLeft is the BLS boot-counting "+LEFT" value, -1 when the entry
	// does not count boots.
	TriesLeft int `json:"tries_left"`

	// UKI is set for a Boot Loader Specification Type #2 entry: Kernel
	// names a unified kernel image, whose sections carry the kernel,
	// initrd and command line; Initrds is empty and Cmdline is what the
	// image (and its add-ons) said when it was listed. Booting reads
	// them again from the verified bytes.
	UKI *UKI `json:"uki,omitempty"`

	// Net is set for an entry found on the network: Kernel and Initrds
	// are then URLs (http, https, tftp), Root is empty, and Source.File
	// is the URL of the script or config that named them.
	Net *Net `json:"net,omitempty"`
}

// Net is where a network entry was found.
type Net struct {
	// Interface is the network interface whose DHCP answer pointed at
	// the entry.
	Interface string `json:"interface"`
	// BootFile is what that answer named (option 67), as a URL.
	BootFile string `json:"boot_file"`
}

// UKI is what boots of a unified kernel image: which profile, with
// which add-ons.
type UKI struct {
	// Profile is the profile booted (0 for a UKI without profiles).
	Profile int `json:"profile"`
	// ProfileID is the profile's ID= from its .profile section.
	ProfileID string `json:"profile_id,omitempty"`
	// Sections are the sections the profile boots, in file order.
	Sections []string `json:"sections"`
	// Addons are the add-ons (*.addon.efi) whose command lines and
	// initrds are added, in the order sd-stub adds them; paths as
	// Kernel's.
	Addons []string `json:"addons,omitempty"`
	// EmbeddedCmdline says the image carries its command line
	// (.cmdline): under an enforcing policy it cannot be edited.
	EmbeddedCmdline bool `json:"embedded_cmdline"`
}

// Config is the result of parsing one boot config (one grub.cfg, one
// extlinux.conf, or one BLS loader directory).
type Config struct {
	Format Format `json:"format"`
	// Source names the config file (for BLS, the loader directory).
	Source Source `json:"source"`
	// Entries in the order the config presents them.
	Entries []Entry `json:"entries"`
	// Default is the index into Entries the config selects by default.
	Default int `json:"default"`
	// Timeout is the menu timeout the config asks for, nil if it does
	// not say.
	Timeout *time.Duration `json:"-"`
	// Warnings are problems the parser stepped over: an entry that could
	// not be used, a default that matched nothing. Each names its file.
	Warnings []Warning `json:"warnings,omitempty"`
	// Consumed names the other configs this one read as part of itself
	// (a grub.cfg it sourced, the BLS directory GRUB's blscfg imported),
	// as Source.String() without the line: those are not offered again
	// on their own, so the menu follows the loader that reads them.
	Consumed []string `json:"-"`
	// EnvWrites are the grubenv changes the config makes when it runs
	// for a boot (GRUB's save_env): made only when an entry is booted.
	EnvWrites []EnvWrite `json:"-"`
}

// EnvWrite is one variable a GRUB config saves into a grubenv file:
// next_entry emptied once it is used, as grub-reboot expects.
type EnvWrite struct {
	// File is the grubenv, on its device.
	File  Source
	Name  string
	Value string
	// Unset deletes the variable (it was not set when saved).
	Unset bool
}

// Volume is one filesystem configs and kernels are read from, with the
// names a config can find it by (GRUB's "search --fs-uuid/--label").
type Volume struct {
	// FS serves the filesystem's root.
	FS fs.FS
	// Dir is the host directory it is mounted at (Entry.Root).
	Dir string
	// Device is the block device ("nvme0n1p2"), empty for a directory.
	Device string
	// UUID and Label are the filesystem's, from its superblock; empty
	// when unknown.
	UUID, Label string
	// Unwritable, when not nil, is why the reader cannot write the
	// filesystem (the bootloader does not write XFS, btrfs, RAID or
	// LVM): what a config would save there (GRUB's save_env) is not
	// saved, so what it would use up once must not be used at all.
	Unwritable error
}

// NewExplicit is the entry of a kernel named directly rather than by a
// config: one handed over by "warmswap -kernel", or named on warmsign's
// command line. Paths are relative to root, the filesystem holding the
// kernel, as a manifest names them; src says where the request came from.
func NewExplicit(id, label, root string, src Source, kernel string, initrds []string, cmdline string) Entry {
	return Entry{ID: id, Label: label, Format: Explicit, Kernel: kernel, Initrds: initrds, Cmdline: cmdline,
		Root: root, Source: src, TriesLeft: -1}
}

// Warning is a problem a parser stepped over, as a value: where it is
// (the file and line, and the device once discovery knows it) and what.
// It prints, and marshals, as "vda1:/grub/grub.cfg:12: message".
type Warning struct {
	Source Source
	Msg    string
}

// Warnf makes a Warning at src.
func Warnf(src Source, format string, args ...any) Warning {
	return Warning{Source: src, Msg: fmt.Sprintf(format, args...)}
}

func (w Warning) String() string {
	if w.Source == (Source{}) {
		return w.Msg
	}
	return w.Source.String() + ": " + w.Msg
}

// MarshalText implements encoding.TextMarshaler: JSON shows the line.
func (w Warning) MarshalText() ([]byte, error) { return []byte(w.String()), nil }

// Strings prints ws, one string each.
func Strings(ws []Warning) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.String()
	}
	return out
}

// SourceError is an error about a place in a config; it prints as
// "vda1:/grub/grub.cfg:12: ...", and is reported as a Warning.
type SourceError struct {
	Source Source
	Err    error
}

func (e *SourceError) Error() string { return e.Source.String() + ": " + e.Err.Error() }
func (e *SourceError) Unwrap() error { return e.Err }

// Warning is e as a warning, at its source.
func (e *SourceError) Warning() Warning { return Warning{Source: e.Source, Msg: e.Err.Error()} }

// AsWarning is err as a warning: at its SourceError's source if it has
// one (on src's device when it names none), else at src.
func AsWarning(src Source, err error) Warning {
	var se *SourceError
	if errors.As(err, &se) {
		w := se.Warning()
		if w.Source.Device == "" {
			w.Source.Device = src.Device
		}
		return w
	}
	return Warning{Source: src, Msg: err.Error()}
}
