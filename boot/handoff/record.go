package handoff

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"
)

// RecordFile is where a handoff record is read from, in the initramfs of
// the bootloader being re-entered.
const RecordFile = Dir + "/handoff.json"

// Version is the record version this code writes and reads.
const Version = 1

// MaxRecord bounds a record.
const MaxRecord = 64 << 10

// Errors a reader reports; all of them mean "ignore the record".
var (
	ErrMalformed = errors.New("malformed handoff record")
	ErrVersion   = errors.New("unknown handoff record version")
)

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
//	  "seed": "64 hex digits"            // 32 random bytes, mixed into /dev/urandom
//	}
type Record struct {
	Version int       `json:"version"`
	Entry   string    `json:"entry"`
	Reason  string    `json:"reason,omitempty"`
	Time    time.Time `json:"time"`
	From    string    `json:"from,omitempty"`
	Seed    string    `json:"seed,omitempty"`
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
	if strings.TrimSpace(r.Entry) == "" {
		return Record{}, fmt.Errorf("%w: no entry", ErrMalformed)
	}
	if r.Seed != "" && r.SeedBytes() == nil {
		return Record{}, fmt.Errorf("%w: seed is not 64 hex digits", ErrMalformed)
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
