// Package eventlog writes and reads TCG PC Client "crypto agile" event
// logs (TCG PC Client Platform Firmware Profile, section 10): the format
// firmware, GRUB and systemd-stub logs use, which tpm2_eventlog and other
// attestation tools parse. A log starts with a Spec ID event listing the
// digest algorithms, followed by TCG_PCR_EVENT2 records, little-endian.
//
// Replay computes the PCR values a log implies, so a booted system can
// check the log against the TPM before trusting it.
package eventlog

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"slices"

	"github.com/warmboot/warmboot/boot/tpm"
)

// Event types we write (TCG PFP, table 9).
const (
	EvNoAction = 0x00000003
	// EvIPL is what GRUB and systemd-stub use for what they load and
	// the command lines they pass.
	EvIPL = 0x0000000D
)

// MaxSize bounds a log we parse, and MaxEvent one event's data.
const (
	MaxSize  = 1 << 20
	MaxEvent = 64 << 10
)

// Event is one measurement.
type Event struct {
	PCR     int
	Type    uint32
	Digests map[tpm.Alg][]byte
	Data    []byte
}

// Log is a crypto-agile event log.
type Log struct {
	// Algs are the digest algorithms every event carries, in order.
	Algs   []tpm.Alg
	Events []Event
}

var specID = []byte("Spec ID Event03\x00")

// Marshal writes the log.
func (l *Log) Marshal() []byte {
	var b bytes.Buffer
	le := binary.LittleEndian
	// TCG_EfiSpecIDEvent: platformClass 0 (client), spec 2.0 errata 0,
	// uintnSize 2 (64-bit), the algorithms, no vendor info.
	var spec []byte
	spec = append(spec, specID...)
	spec = le.AppendUint32(spec, 0)
	spec = append(spec, 0, 2, 0, 2)
	spec = le.AppendUint32(spec, uint32(len(l.Algs)))
	for _, a := range l.Algs {
		spec = le.AppendUint16(spec, uint16(a))
		spec = le.AppendUint16(spec, uint16(a.Size()))
	}
	spec = append(spec, 0)
	// The header event is in the SHA-1 layout: PCR 0, EV_NO_ACTION,
	// 20 zero bytes of digest.
	b.Write(le.AppendUint32(nil, 0))
	b.Write(le.AppendUint32(nil, EvNoAction))
	b.Write(make([]byte, 20))
	b.Write(le.AppendUint32(nil, uint32(len(spec))))
	b.Write(spec)
	for _, e := range l.Events {
		b.Write(le.AppendUint32(nil, uint32(e.PCR)))
		b.Write(le.AppendUint32(nil, e.Type))
		b.Write(le.AppendUint32(nil, uint32(len(l.Algs))))
		for _, a := range l.Algs {
			b.Write(le.AppendUint16(nil, uint16(a)))
			b.Write(e.Digests[a])
		}
		b.Write(le.AppendUint32(nil, uint32(len(e.Data))))
		b.Write(e.Data)
	}
	return b.Bytes()
}

// Add appends an event measuring digest data (hashed in every bank of
// the log) with the given event data.
func (l *Log) Add(pcr int, typ uint32, measured, data []byte) Event {
	e := Event{PCR: pcr, Type: typ, Digests: map[tpm.Alg][]byte{}, Data: data}
	for _, a := range l.Algs {
		e.Digests[a] = a.Sum(measured)
	}
	l.Events = append(l.Events, e)
	return e
}

// Parse reads a crypto-agile log.
func Parse(data []byte) (*Log, error) {
	fail := func(off int, format string, args ...any) (*Log, error) {
		return nil, fmt.Errorf("%w: offset %d: %s", ErrMalformed, off, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxSize {
		return fail(0, "larger than %d bytes", MaxSize)
	}
	r := &reader{b: data}
	pcr, typ := r.u32(), r.u32()
	r.skip(20)
	size := r.u32()
	spec := r.bytes(int(size))
	if r.err != nil || pcr != 0 || typ != EvNoAction || len(spec) < 29 || !bytes.Equal(spec[:16], specID) {
		return fail(0, "no Spec ID Event03 header (not a crypto-agile log)")
	}
	sr := &reader{b: spec[24:]}
	n := sr.u32()
	if n == 0 || n > 8 {
		return fail(32, "%d algorithms", n)
	}
	l := &Log{}
	sizes := map[tpm.Alg]int{}
	for range n {
		a, s := tpm.Alg(sr.u16()), int(sr.u16())
		if sr.err != nil {
			return fail(36, "bad algorithm list")
		}
		if a.Size() != s {
			return fail(36, "digest algorithm 0x%04x of size %d is not one warmboot knows", uint16(a), s)
		}
		l.Algs = append(l.Algs, a)
		sizes[a] = s
	}
	for r.off < len(data) {
		start := r.off
		e := Event{PCR: int(r.u32()), Type: r.u32(), Digests: map[tpm.Alg][]byte{}}
		cnt := r.u32()
		if r.err != nil || cnt != n {
			return fail(start, "event has %d digests, header lists %d algorithms", cnt, n)
		}
		for range cnt {
			a := tpm.Alg(r.u16())
			s, ok := sizes[a]
			if !ok {
				return fail(start, "digest algorithm 0x%04x not in the header", uint16(a))
			}
			e.Digests[a] = r.bytes(s)
		}
		ds := r.u32()
		if ds > MaxEvent {
			return fail(start, "event data of %d bytes", ds)
		}
		e.Data = r.bytes(int(ds))
		if r.err != nil || e.PCR > 23 {
			return fail(start, "truncated or bad event")
		}
		l.Events = append(l.Events, e)
	}
	return l, nil
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.err = io.ErrUnexpectedEOF
		return nil
	}
	v := r.b[r.off : r.off+n]
	r.off += n
	return v
}

func (r *reader) skip(n int) { r.bytes(n) }

func (r *reader) u16() uint16 {
	if b := r.bytes(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if b := r.bytes(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

// Replay returns the value each PCR the log touches would have in bank
// alg, starting from zero (PCRs 8-15 after a platform reset). EV_NO_ACTION
// events are not extended, as the spec says. It returns nil if the log
// does not carry alg.
func (l *Log) Replay(alg tpm.Alg) map[int][]byte {
	if !slices.Contains(l.Algs, alg) {
		return nil
	}
	out := map[int][]byte{}
	for _, e := range l.Events {
		if e.Type == EvNoAction {
			continue
		}
		v, ok := out[e.PCR]
		if !ok {
			v = make([]byte, alg.Size())
		}
		out[e.PCR] = alg.Sum(append(bytes.Clone(v), e.Digests[alg]...))
	}
	return out
}
