package handoff

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/inventory"
)

// RecordFile is where a handoff record is read from, in the initramfs of
// the bootloader being re-entered.
const RecordFile = Dir + "/handoff.json"

// Version is the record version this code writes and reads.
const Version = 1

// MaxRecord bounds a record.
const MaxRecord = 64 << 10

// MaxBooted bounds a booted record: it holds the record that asked for
// the boot, indented one level deeper, and more.
const MaxBooted = 256 << 10

// Record is what the running system tells the bootloader it re-enters
// (warmswap writes it): which entry to boot and why. It is a request:
// the bootloader still applies its own verification policy.
//
// JSON form (version 1; fields are only ever added within a version):
//
//	{
//	  "version": 1,
//	  "entry": "debian-6.1.0-56-amd64",  // an entry id or label, as warmboot list shows
//	  "reason": "warmswap",              // free text, printed
//	  "time": "2026-11-22T18:40:00Z",    // when the request was made
//	  "from": "host1 6.1.0-55-amd64",    // who made it, printed
//	  "seed": "64 hex digits",           // 32 random bytes, mixed into /dev/urandom
//	  "kernel": {                        // instead of "entry": a kernel handed over
//	    "path": "/boot/vmlinuz-6.1.0-57-amd64",  // on its filesystem, as manifests name it
//	    "initrds": ["/boot/initrd.img-6.1.0-57-amd64"],
//	    "cmdline": "root=UUID=... ro quiet"
//	  },
//	  "found": {                         // with "entry": where the running system found it
//	    "volumes": ["1b2c…", "ABCD-1234"],  // UUIDs of the filesystems to mount
//	    "boots": "64 hex digits",           // what the entry boots (state.Boots)
//	    "entries": "64 hex digits",         // the menu's entry ids (MenuIDs)
//	    "others": ["9f3e…"],                // the other filesystems it mounts: no configs there
//	    "usb": ["7A1B-22C3"]                 // filesystems on its USB storage, mounted or not
//	  }
//	}
//
// A record has an entry or a kernel, not both. The files of a kernel
// handed over are in the same segment under KernelRoot (the kernel at
// KernelRoot + path, and so on), with the signed manifests of the
// filesystem they came from under KernelRoot too, so the bootloader
// verifies them as it verifies an entry on a disk.
type Record struct {
	Version int       `json:"version"`
	Entry   string    `json:"entry,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
	From    string    `json:"from,omitempty"`
	Seed    string    `json:"seed,omitempty"`
	Kernel  *Kernel   `json:"kernel,omitempty"`
	// Check is what the booted system checks before it blesses the boot:
	// the devices that worked before the kexec (issue 24). Images before
	// it ignore it.
	Check *DeviceCheck `json:"device_check,omitempty"`
	// Found is where the running system found Entry, for the
	// bootloader's fast path (issue 25); images before it ignore it,
	// and so does the bootloader when anything it names differs.
	Found *Found `json:"found,omitempty"`
}

// Found is what the running system saw of the entry it asks for: the
// filesystems its menu came from (the configs, the entries' files, the
// boot state and every ESP, by filesystem UUID), what the entry boots,
// and which entries that menu has, and the other filesystems it mounts.
// The bootloader may then leave those others alone (and mount every
// filesystem in neither list, which the running system could not
// look into), and boots the entry from what it mounted
// only when its menu has the same entries and the files it reads and
// verifies again boot the same (state.Boots); anything else, and it
// looks on every disk as it would without this. Nothing here is trusted:
// it only says where to look first.
type Found struct {
	Volumes []string `json:"volumes"`
	Boots   string   `json:"boots"`
	Entries string   `json:"entries"`
	// Others are the other filesystems the running system mounts, by
	// UUID: it scanned them and found no config on them, so the
	// bootloader need not read them. A filesystem in neither list (one
	// the running system does not mount) is read as without Found.
	Others []string `json:"others,omitempty"`
	// USB are the filesystems on the running system's USB storage,
	// mounted or not: the bootloader waits for these (within its fast
	// path's bound), not for USB to settle, before it reads the disks.
	USB []string `json:"usb,omitempty"`
}

// MenuIDs is Found.Entries of a menu whose entries have ids: the SHA-256
// of the ids, sorted, one a line, in hex (the order the scan found them
// in is not compared: the running system and the bootloader list their
// filesystems in different orders).
func MenuIDs(ids []string) string {
	s := slices.Clone(ids)
	slices.Sort(s)
	h := sha256.New()
	for _, id := range s {
		fmt.Fprintf(h, "%q\n", id)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// DeviceCheck is the running system's devices just before it was
// stopped for a kexec, which the system the kexec boots compares with
// its own before "warmboot bless" (package inventory): kexec skips the
// firmware's POST, and a driver that does not reinitialise its device
// leaves it dead though the kernel came up.
type DeviceCheck struct {
	Inventory inventory.Inventory `json:"inventory"`
	// Kernel is the SHA-256 of the kernel file asked for, in hex.
	Kernel string `json:"kernel,omitempty"`
}

// Kernel is a kernel handed over in the segment rather than named by an
// entry on a disk.
type Kernel struct {
	Path    string   `json:"path"`
	Initrds []string `json:"initrds"`
	Cmdline string   `json:"cmdline"`
}

// KernelRoot is where the files of a Record's Kernel are.
const KernelRoot = Dir + "/fs"

// Wants says what the record asks for, for messages.
func (r Record) Wants() string {
	if r.Kernel != nil {
		return "the kernel handed over (" + r.Kernel.Path + ")"
	}
	return fmt.Sprintf("entry %q", r.Entry)
}

// Marshal writes r as JSON.
func (r Record) Marshal() ([]byte, error) {
	r.Version = Version
	return json.MarshalIndent(r, "", "  ")
}

// SeedBytes decodes the seed; nil if there is none or it is malformed.
func (r Record) SeedBytes() []byte {
	b, err := hex.DecodeString(r.Seed)
	if err != nil || len(b) != 32 {
		return nil
	}
	return b
}

// ParseRecord reads a record. Unknown fields are allowed (a newer writer
// of the same version); an unknown version, a missing entry or bad JSON
// is an error wrapping ErrVersion or ErrMalformed.
func ParseRecord(data []byte) (Record, error) {
	if len(data) > MaxRecord {
		return Record{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxRecord)
	}
	var v struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if v.Version == nil {
		return Record{}, fmt.Errorf("%w: no version", ErrMalformed)
	}
	if *v.Version != Version {
		return Record{}, fmt.Errorf("%w %d (this bootloader reads version %d)", ErrVersion, *v.Version, Version)
	}
	var r Record
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch k := r.Kernel; {
	case k == nil && strings.TrimSpace(r.Entry) == "":
		return Record{}, fmt.Errorf("%w: no entry and no kernel", ErrMalformed)
	case k != nil && r.Entry != "":
		return Record{}, fmt.Errorf("%w: both an entry and a kernel", ErrMalformed)
	case k != nil:
		for _, p := range append([]string{k.Path}, k.Initrds...) {
			if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
				return Record{}, fmt.Errorf("%w: kernel file path %q is not clean and absolute", ErrMalformed, p)
			}
		}
	}
	if r.Seed != "" && r.SeedBytes() == nil {
		return Record{}, fmt.Errorf("%w: seed is not 64 hex digits", ErrMalformed)
	}
	if f := r.Found; f != nil && (r.Entry == "" || len(f.Volumes) == 0 || len(f.Volumes) > 64 || f.Boots == "" || f.Entries == "") {
		// Only a hint: a record that names no entry or no filesystem
		// boots as it would without it.
		r.Found = nil
	}
	return r, nil
}

// ReadRecord reads RecordFile from fsys (the root of the bootloader's
// initramfs). It returns fs.ErrNotExist when there is no handoff.
func ReadRecord(fsys fs.FS) (Record, error) {
	data, err := fs.ReadFile(fsys, strings.TrimPrefix(RecordFile, "/"))
	if err != nil {
		return Record{}, err
	}
	r, err := ParseRecord(data)
	if err != nil {
		return Record{}, fmt.Errorf("%s: %w", RecordFile, err)
	}
	return r, nil
}

// BootedFile is where the booted system finds a Booted record, in the
// initramfs warmboot (or warmswap -direct) appended to.
const BootedFile = Dir + "/booted.json"

// BootedVersion is the Booted version this code writes. It reads it and
// version 1, whose source was a string ("vda2:/loader/entries/x.conf:1",
// entry.Source's String form).
const BootedVersion = 2

// Booted tells the booted system how it was booted, for its logs and for
// boot counting. JSON form (version 2):
//
//	{
//	  "version": 2,
//	  "entry": "debian-6.1.0-57-amd64",   // id of the entry booted
//	  "label": "Debian GNU/Linux 6.1.0-57",
//	  "source": {"device": "vda2", "file": "/loader/entries/debian-6.1.0-57-amd64.conf", "line": 1},
//	  "by": "warmboot",                   // or "warmswap -direct"
//	  "trust": "warmboot_trust: policy=enforce key=ed25519:... manifest=... cmdline=signed",
//	  "handoff": { ... },                 // the Record that asked for it, if one did (its own version)
//	  "timeline": {"phases": [{"name": "modules", "ms": 351.2}, ...]}
//	}
//
// The source's device is omitted for a directory, its line when unknown,
// and the source itself when there is none.
type Booted struct {
	Version int          `json:"version"`
	Entry   string       `json:"entry"`
	Label   string       `json:"label,omitempty"`
	Source  entry.Source `json:"source,omitzero"`
	// Boots is what the entry booted (state.Boots: the digest of its
	// kernel, initrds and command line), "" from images before it.
	Boots string `json:"boots,omitempty"`
	// Kernel is the SHA-256 of the kernel file it booted (a unified
	// kernel image's: the image), in hex; "" from images before it.
	Kernel string `json:"kernel,omitempty"`
	// Firmware is what the firmware starts on a cold boot of this
	// machine, as far as the chain of boots knows (package coldpath):
	// "warmboot" when warmboot itself was started without a handoff; else
	// what the handoff that asked for this boot said.
	Firmware string          `json:"firmware,omitempty"`
	By       string          `json:"by"`
	Trust    string          `json:"trust,omitempty"`
	Handoff  *Record         `json:"handoff,omitempty"`
	Timeline json.RawMessage `json:"timeline,omitempty"`
	// CheckDropped says why the handoff's device check is not here.
	CheckDropped string `json:"device_check_dropped,omitempty"`
}

// bootedV1 is a Booted as version 1 wrote it: the source as a string,
// shadowing Booted's.
type bootedV1 struct {
	Booted
	Source string `json:"source,omitempty"`
}

// Marshal writes b as JSON, as version BootedVersion. A record larger
// than MaxBooted loses the handoff's device check (the inventory of a
// machine with very many devices), and says so in CheckDropped, rather
// than be a record the booted system cannot read.
func (b Booted) Marshal() ([]byte, error) {
	b.Version = BootedVersion
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil || len(data) <= MaxBooted || b.Handoff == nil || b.Handoff.Check == nil {
		return data, err
	}
	h := *b.Handoff
	h.Check = nil
	b.Handoff = &h
	b.CheckDropped = fmt.Sprintf("the devices before the kexec made this record larger than %d bytes: no device check", MaxBooted)
	return json.MarshalIndent(b, "", "  ")
}

// ParseBooted reads a Booted record of version BootedVersion or 1 (its
// source parsed back into an entry.Source); Version says which it was.
func ParseBooted(data []byte) (Booted, error) {
	if len(data) > MaxBooted {
		return Booted{}, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxBooted)
	}
	var v struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return Booted{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch v.Version {
	case BootedVersion:
		var b Booted
		if err := json.Unmarshal(data, &b); err != nil {
			return Booted{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		return b, nil
	case 1:
		var old bootedV1
		if err := json.Unmarshal(data, &old); err != nil {
			return Booted{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		src, err := entry.ParseSource(old.Source)
		if err != nil {
			return Booted{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		b := old.Booted
		b.Source = src
		return b, nil
	}
	return Booted{}, fmt.Errorf("%w %d (this reads versions 1 and %d)", ErrVersion, v.Version, BootedVersion)
}

// BootedFiles are where a booted system finds what warmboot handed it:
// /run/warmboot once an initramfs hook copied it there, else the
// initramfs's own /.warmboot.
var BootedFiles = []string{"run/warmboot/booted.json", strings.TrimPrefix(BootedFile, "/")}

// ReadBooted reads which entry this system is, from its booted.json.
func ReadBooted(root string) (Booted, error) {
	for _, f := range BootedFiles {
		data, err := os.ReadFile(filepath.Join(root, f))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return Booted{}, err
		}
		b, err := ParseBooted(data)
		if err != nil {
			return Booted{}, fmt.Errorf("/%s: %w", f, err)
		}
		return b, nil
	}
	return Booted{}, fmt.Errorf("this system was not booted by warmboot (no /%s)", strings.Join(BootedFiles, " nor /"))
}
