// Package state is warmboot's own small record of boots, for what the
// formats that exist cannot hold: the one-shot next entry of the
// bootloader itself, the trial in progress, the last entry whose boot was
// blessed (last-known-good), tries for entries that carry no BLS counter
// (GRUB, syslinux, a kernel handed over), and the last failure. BLS entries
// keep their counters in their file names (package bls) and GRUB its
// next_entry in grubenv (package grubenv); this file is for the rest.
//
// The file is text, versioned and checksummed:
//
//	warmboot-state 3
//	{"last_good":{"id":"debian-6.1","source":{"device":"vda1","file":"/loader/entries/debian-6.1.conf","line":1},"boots":"9c0e…"},...}
//	sha256 3f1c...
//
// The checksum covers the first two lines. A file that is not exactly
// this (truncated, corrupted, another version) is an error the caller
// reports and treats as empty state: a bad state file never stops a boot.
// Version 1, the same but for each source written as a string
// ("vda1:/loader/entries/debian-6.1.conf:1"), and version 2, without
// what entries boot (Ref.Boots), the configs' default a kept default
// gives way to and the contents a failed trial spent, are read too; what
// is written is version 3. (Version 2 readers refuse unknown fields: an
// older image reading this file says so and boots with empty state.)
// Files are replaced atomically (Write): a power cut leaves the old or
// the new file, never a mix.
package state

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
)

// Magic and Version head the file Marshal writes; Parse reads Version
// and version 1.
const (
	Magic   = "warmboot-state"
	Version = 3
	// MaxSize bounds what Parse reads.
	MaxSize = 64 << 10
)

// Sentinels.
var (
	ErrFormat   = errors.New("not a warmboot state file")
	ErrChecksum = errors.New("state file checksum does not match (a torn or corrupted write)")
	ErrVersion  = errors.New("unknown state file version")
)

// Ref names an entry across boots, by its id (a BLS entry's id does not
// change when its counter does) and by what it boots: Boots, the digest
// of its kernel, initrds and command line (package state's Boots). An id
// alone is not enough: Debian's "gnulinux-simple-UUID" boots the newest
// kernel, whichever that is, and every kernel warmswap hands over is
// "handoff". Source says where it was found, for people and for bless
// (which finds a BLS entry's file from it); it is omitted when unknown.
type Ref struct {
	ID     string       `json:"id"`
	Source entry.Source `json:"source,omitzero"`
	// Boots is "" when what the entry booted is not known (a record of
	// version 2 or older; a running system whose files could not be read).
	Boots string `json:"boots,omitempty"`
}

// Is says whether r is the entry with id that boots boots, by what it
// boots: the same contents, under whatever id (Debian's gnulinux-simple
// and its per-kernel entry boot the same kernel). Where neither knows
// its contents, the same id. A ref that does not know its contents (a
// record of version 2) vouches for nothing that does: the id may now boot
// another kernel (gnulinux-simple after an upgrade), so the boot is a
// trial once, after which the record knows.
func (r *Ref) Is(id, boots string) bool {
	switch {
	case r == nil:
		return false
	case r.Boots != "" || boots != "":
		return r.Boots == boots
	}
	return r.ID == id
}

// Same says whether r and o name the same entry, as far as both know:
// the same id, and the same contents where both know theirs.
func (r *Ref) Same(o *Ref) bool {
	return r != nil && o != nil && r.ID == o.ID && (r.Boots == "" || o.Boots == "" || r.Boots == o.Boots)
}

// FallbackName names r as a trial's fallback in what is said: its id, or,
// r nil (none known), what the bootloader then falls back to.
func (r *Ref) FallbackName() string {
	if r == nil {
		return "the next entry with tries left"
	}
	return fmt.Sprintf("%q", r.ID)
}

// String names r for messages: its id, and the start of its digest.
func (r *Ref) String() string {
	if r == nil {
		return "none"
	}
	if len(r.Boots) >= 12 {
		return fmt.Sprintf("%q (boots %s…)", r.ID, r.Boots[:12])
	}
	return fmt.Sprintf("%q", r.ID)
}

// Boots is the digest an entry is known by across boots: SHA-256 over
// the SHA-256 of its kernel, of each initrd in order, and its command
// line (as configured or edited, without what a trial adds), in hex.
func Boots(kernel [32]byte, initrds [][32]byte, cmdline string) string {
	return boots(kernel, initrds, cmdline, 0)
}

// EntryBoots is Boots of entry e, whose files have the digests kernel
// and initrds as kexec.Digests gives them: for a unified kernel image,
// the image's and its add-ons', and the profile it boots when that is
// not the first (the profiles of one image may differ only in an
// initrd section).
func EntryBoots(e entry.Entry, kernel [32]byte, initrds [][32]byte, cmdline string) string {
	p := 0
	if e.UKI != nil {
		p = e.UKI.Profile
	}
	return boots(kernel, initrds, cmdline, p)
}

func boots(kernel [32]byte, initrds [][32]byte, cmdline string, profile int) string {
	h := sha256.New()
	fmt.Fprintf(h, "kernel %x\n", kernel)
	for _, i := range initrds {
		fmt.Fprintf(h, "initrd %x\n", i)
	}
	if profile > 0 {
		fmt.Fprintf(h, "profile %d\n", profile)
	}
	fmt.Fprintf(h, "cmdline %q\n", cmdline)
	return hex.EncodeToString(h.Sum(nil))
}

// Kept is the default "warmboot bless" kept after a warm swap: the entry
// swapped to, the bootloader's default in place of the configs' own until
// the configs' default changes (a kernel upgrade, grubby --set-default,
// bootctl set-default), or for good when Pinned (warmswap -commit -pin).
type Kept struct {
	Ref
	// Over is the configs' default when it was kept; nil in records of
	// version 2, whose kept default gives way at once.
	Over   *Ref `json:"over,omitempty"`
	Pinned bool `json:"pinned,omitempty"`
}

// Attempt is a boot started and not yet blessed.
type Attempt struct {
	Entry Ref       `json:"entry"`
	At    time.Time `json:"at"`
	// By is what started it: "warmboot", "warmswap", "warmswap -direct".
	By string `json:"by"`
	// DeadlineSeconds is the watchdog deadline it was given, 0 for none.
	DeadlineSeconds int `json:"deadline_seconds,omitempty"`
	// Fallback is what boots if it fails: the entry that was running
	// (warmswap) or last-known-good.
	Fallback *Ref `json:"fallback,omitempty"`
	// Over is the configs' default when it started, which a default kept
	// after it (Kept.Over) gives way to once it changes.
	Over *Ref `json:"over,omitempty"`
	// Firmware is how warmswap made the loader the firmware starts boot
	// the fallback once (package coldpath), for bless to take back; nil
	// when warmboot is on that path itself (its state is the fallback).
	Firmware *OneShot `json:"firmware,omitempty"`
}

// OneShot is a one-shot entry set for a loader other than warmboot: GRUB's
// next_entry in its environment block, systemd-boot's LoaderEntryOneShot.
type OneShot struct {
	// Loader is "grub" or "systemd-boot".
	Loader string `json:"loader"`
	// File is the environment block ("/boot/grub/grubenv"): on the
	// running system, or, when Device is set, on that device (the
	// bootloader set it); "" for an EFI variable.
	File   string `json:"file,omitempty"`
	Device string `json:"device,omitempty"`
	// Var and Value are what was set: "next_entry" and the fallback's
	// menu path.
	Var   string `json:"var"`
	Value string `json:"value"`
}

func (o *OneShot) String() string {
	if o.File != "" {
		return fmt.Sprintf("%s %s=%q in %s", o.Loader, o.Var, o.Value, entry.Source{Device: o.Device, File: o.File})
	}
	return fmt.Sprintf("%s %s=%q", o.Loader, o.Var, o.Value)
}

// SetNote is what is said once o is set for a trial whose fallback is
// fallback (nil: none known), by warmswap and by the bootloader alike.
func (o *OneShot) SetNote(fallback *Ref) string {
	return fmt.Sprintf("firmware path: set %s: a reset during the trial boots %s once; \"warmboot bless\" clears it", o, fallback.FallbackName())
}

// Failure is a trial given up.
type Failure struct {
	Attempt
	// Seen is when the bootloader found the trial had failed.
	Seen time.Time `json:"seen"`
	Why  string    `json:"why"`
}

// State is the record.
type State struct {
	// LastGood is the entry whose boot was last blessed.
	LastGood *Ref `json:"last_good,omitempty"`
	// Default, when set, is the bootloader's default in place of the
	// configs' own: the entry a warm swap tried and "warmboot bless"
	// (or "warmswap -commit") kept.
	Default *Kept `json:"default,omitempty"`
	// Next is the one-shot next entry, booted once (then it is the
	// Trial), whichever way the machine gets to the bootloader.
	Next *Attempt `json:"next,omitempty"`
	// Trial is the boot in progress, cleared when it is blessed; the
	// bootloader finding it set on a boot it did not ask for means the
	// trial failed.
	Trial *Attempt `json:"trial,omitempty"`
	// LastAttempt is the last trial started, kept when it ends.
	LastAttempt *Attempt `json:"last_attempt,omitempty"`
	// TriesLeft counts the attempts left of entries that carry no BLS
	// counter, by entry id: a failed trial leaves 0, and the bootloader
	// then boots that entry only when asked for it by name.
	TriesLeft map[string]int `json:"tries_left,omitempty"`
	// Spent says what an entry with 0 tries left booted when its trial
	// failed, by entry id: once it boots something else (a new kernel
	// under the same id), it has its tries again.
	Spent map[string]string `json:"spent,omitempty"`
	// LastFailure is the last trial given up, and why.
	LastFailure *Failure `json:"last_failure,omitempty"`
}

// OutOfTries says whether the entry id booting boots, which carries no
// BLS counter, has no tries left: a trial of it, booting the same, failed.
func (s State) OutOfTries(id, boots string) bool {
	n, ok := s.TriesLeft[id]
	spent := s.Spent[id]
	return ok && n == 0 && (spent == "" || spent == boots)
}

// Marshal renders s as a state file.
func Marshal(s State) ([]byte, error) {
	body, err := json.Marshal(s)
	if err != nil {
		return nil, err
	}
	b := fmt.Appendf(nil, "%s %d\n%s\n", Magic, Version, body)
	sum := sha256.Sum256(b)
	return fmt.Appendf(b, "sha256 %s\n", hex.EncodeToString(sum[:])), nil
}

// Parse reads a state file.
func Parse(data []byte) (State, error) {
	if len(data) > MaxSize {
		return State{}, fmt.Errorf("%w: larger than %d bytes", ErrFormat, MaxSize)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	if len(lines) != 4 || len(lines[3]) != 0 {
		return State{}, fmt.Errorf("%w: want 3 lines", ErrFormat)
	}
	var magic string
	var version int
	if n, err := fmt.Sscanf(string(lines[0]), "%s %d\n", &magic, &version); n != 2 || err != nil || magic != Magic {
		return State{}, fmt.Errorf("%w: first line %q", ErrFormat, bytes.TrimSpace(lines[0]))
	}
	sumLine, ok := bytes.CutPrefix(lines[2], []byte("sha256 "))
	want, err := hex.DecodeString(string(bytes.TrimSuffix(sumLine, []byte("\n"))))
	if !ok || err != nil || len(want) != sha256.Size {
		return State{}, fmt.Errorf("%w: no checksum line", ErrFormat)
	}
	if got := sha256.Sum256(data[:len(lines[0])+len(lines[1])]); !bytes.Equal(got[:], want) {
		return State{}, ErrChecksum
	}
	body := lines[1]
	switch version {
	case Version, 2:
	case 1:
		if body, err = sourcesAsValues(body); err != nil {
			return State{}, fmt.Errorf("%w: version 1: %v", ErrFormat, err)
		}
	default:
		return State{}, fmt.Errorf("%w %d (this warmboot reads 1 to %d)", ErrVersion, version, Version)
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return State{}, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return s, nil
}

// sourcesAsValues turns a version 1 body into version 2's: the source
// of every Ref, a string there ("vda1:/loader/entries/a.conf:1"), becomes
// the entry.Source it names. The Refs are where version 1 had them (it
// does not change): last_good, default, and the entry and fallback of
// next, trial, last_attempt and last_failure. Anything else is left for
// the strict decode of version 2 to accept or refuse.
func sourcesAsValues(body []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // counts and deadlines pass through as written
	var top map[string]any
	if err := dec.Decode(&top); err != nil {
		return nil, err
	}
	ref := func(v any) error {
		r, ok := v.(map[string]any)
		if !ok || r["source"] == nil {
			return nil
		}
		s, ok := r["source"].(string)
		if !ok {
			return fmt.Errorf("source %v is not a string", r["source"])
		}
		src, err := entry.ParseSource(s)
		if err != nil {
			return err
		}
		r["source"] = src
		return nil
	}
	for _, k := range []string{"last_good", "default"} {
		if err := ref(top[k]); err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
	}
	for _, k := range []string{"next", "trial", "last_attempt", "last_failure"} {
		a, _ := top[k].(map[string]any)
		for _, r := range []string{"entry", "fallback"} {
			if err := ref(a[r]); err != nil {
				return nil, fmt.Errorf("%s.%s: %w", k, r, err)
			}
		}
	}
	return json.Marshal(top)
}
