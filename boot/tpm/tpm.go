// Package tpm extends TPM 2.0 PCRs: the three commands measured boot
// needs (GetCapability for the active PCR banks, PCR_Extend, PCR_Read),
// marshalled by hand over an io.ReadWriter (the kernel's /dev/tpmrm0, or a
// socket to swtpm in tests).
//
// We do not use go-tpm: these are ~150 lines of fixed-layout big-endian
// structures, against a library whose generated marshalling adds more to
// the image than the whole of this bootloader's verification. Everything
// else a TPM can do is the booted system's business.
package tpm

import (
	"bytes"
	"crypto"
	_ "crypto/sha1" // the banks' hashes, through crypto.Hash
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"

	"github.com/warmboot/warmboot/boot/internal/sys"
)

// Alg is a TPM_ALG_ID of a hash.
type Alg uint16

// The hash algorithms a PCR bank can use that we can compute.
const (
	SHA1   Alg = 0x0004
	SHA256 Alg = 0x000B
	SHA384 Alg = 0x000C
	SHA512 Alg = 0x000D
)

func (a Alg) String() string {
	switch a {
	case SHA1:
		return "sha1"
	case SHA256:
		return "sha256"
	case SHA384:
		return "sha384"
	case SHA512:
		return "sha512"
	}
	return fmt.Sprintf("alg-0x%04x", uint16(a))
}

// New returns a hash for a, nil if we cannot compute it (SM3).
func (a Alg) New() hash.Hash {
	if c := a.Crypto(); c != 0 {
		return c.New()
	}
	return nil
}

// Crypto is a's hash in package crypto, 0 if we cannot compute it (SM3).
func (a Alg) Crypto() crypto.Hash {
	switch a {
	case SHA1:
		return crypto.SHA1
	case SHA256:
		return crypto.SHA256
	case SHA384:
		return crypto.SHA384
	case SHA512:
		return crypto.SHA512
	}
	return 0
}

// Size is the digest size, 0 if unknown.
func (a Alg) Size() int {
	if h := a.New(); h != nil {
		return h.Size()
	}
	return 0
}

// Sum hashes data with a.
func (a Alg) Sum(data []byte) []byte {
	h := a.New()
	h.Write(data)
	return h.Sum(nil)
}

const (
	stNoSessions = 0x8001
	stSessions   = 0x8002
	ccGetCap     = 0x0000017A
	ccExtend     = 0x00000182
	ccPCRRead    = 0x0000017E
	capPCRs      = 5
	rsPW         = 0x40000009
	maxResponse  = 4096
)

// Error is a TPM response code.
type Error struct {
	Command string
	Code    uint32
}

func (e *Error) Error() string {
	return fmt.Sprintf("TPM2_%s: response code 0x%x", e.Command, e.Code)
}

// Open opens the kernel's TPM device under root ("/" on a machine):
// dev/tpmrm0, the resource manager, if there is one, else the raw
// dev/tpm0. It returns an error wrapping fs.ErrNotExist when the machine
// has no TPM.
func Open(root string) (*os.File, error) {
	rm, raw := filepath.Join(root, "dev/tpmrm0"), filepath.Join(root, "dev/tpm0")
	// Blocking: a TPM device opened non-blocking (as os.OpenFile opens
	// it) answers a read before its response is ready with EOF.
	f, err := sys.OpenDevice(rm)
	if err == nil {
		return f, nil
	}
	f, err2 := sys.OpenDevice(raw)
	if err2 != nil {
		return nil, fmt.Errorf("opening %s and %s: %w", rm, raw, errors.Join(err, err2))
	}
	return f, nil
}

func command(rw io.ReadWriter, name string, tag uint16, cc uint32, body []byte) ([]byte, error) {
	cmd := binary.BigEndian.AppendUint16(nil, tag)
	cmd = binary.BigEndian.AppendUint32(cmd, uint32(10+len(body)))
	cmd = binary.BigEndian.AppendUint32(cmd, cc)
	cmd = append(cmd, body...)
	if _, err := rw.Write(cmd); err != nil {
		return nil, fmt.Errorf("TPM2_%s: writing command: %w", name, err)
	}
	// The kernel's device returns a whole response per read; a socket
	// may split it, so read the header first, then the rest.
	resp := make([]byte, 10)
	if _, err := io.ReadFull(rw, resp); err != nil {
		return nil, fmt.Errorf("TPM2_%s: reading response: %w", name, err)
	}
	size := binary.BigEndian.Uint32(resp[2:6])
	if size < 10 || size > maxResponse {
		return nil, fmt.Errorf("TPM2_%s: response size %d out of range", name, size)
	}
	resp = append(resp, make([]byte, size-10)...)
	if _, err := io.ReadFull(rw, resp[10:]); err != nil {
		return nil, fmt.Errorf("TPM2_%s: reading response: %w", name, err)
	}
	if rc := binary.BigEndian.Uint32(resp[6:10]); rc != 0 {
		return nil, &Error{Command: name, Code: rc}
	}
	return resp[10:], nil
}

// Banks returns the PCR banks that have PCRs allocated, in TPM order.
func Banks(rw io.ReadWriter) ([]Alg, error) {
	body := binary.BigEndian.AppendUint32(nil, capPCRs)
	body = binary.BigEndian.AppendUint32(body, 0)
	body = binary.BigEndian.AppendUint32(body, 1)
	resp, err := command(rw, "GetCapability", stNoSessions, ccGetCap, body)
	if err != nil {
		return nil, err
	}
	r := bytes.NewReader(resp)
	var hdr struct {
		More  uint8
		Cap   uint32
		Count uint32
	}
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil || hdr.Cap != capPCRs || hdr.Count > 16 {
		return nil, fmt.Errorf("TPM2_GetCapability(PCRS): malformed response")
	}
	var banks []Alg
	for range hdr.Count {
		var sel struct {
			Alg  uint16
			Size uint8
		}
		if err := binary.Read(r, binary.BigEndian, &sel); err != nil {
			return nil, fmt.Errorf("TPM2_GetCapability(PCRS): malformed response")
		}
		bits := make([]byte, sel.Size)
		if _, err := io.ReadFull(r, bits); err != nil {
			return nil, fmt.Errorf("TPM2_GetCapability(PCRS): malformed response")
		}
		if !bytes.Equal(bits, make([]byte, len(bits))) {
			banks = append(banks, Alg(sel.Alg))
		}
	}
	return banks, nil
}

// Extend extends pcr in every bank of digests (alg → digest).
func Extend(rw io.ReadWriter, pcr int, digests map[Alg][]byte, order []Alg) error {
	body := binary.BigEndian.AppendUint32(nil, uint32(pcr))
	// One password session with an empty password: PCRs 0-15 have an
	// empty auth value.
	body = binary.BigEndian.AppendUint32(body, 9)
	body = binary.BigEndian.AppendUint32(body, rsPW)
	body = append(body, 0, 0, 0, 0, 0)
	body = binary.BigEndian.AppendUint32(body, uint32(len(order)))
	for _, a := range order {
		d, ok := digests[a]
		if !ok || len(d) != a.Size() {
			return fmt.Errorf("TPM2_PCR_Extend: no %s digest", a)
		}
		body = binary.BigEndian.AppendUint16(body, uint16(a))
		body = append(body, d...)
	}
	_, err := command(rw, "PCR_Extend", stSessions, ccExtend, body)
	return err
}

// Read returns the value of pcr in bank alg.
func Read(rw io.ReadWriter, pcr int, alg Alg) ([]byte, error) {
	body := binary.BigEndian.AppendUint32(nil, 1)
	body = binary.BigEndian.AppendUint16(body, uint16(alg))
	sel := make([]byte, 3)
	sel[pcr/8] |= 1 << (pcr % 8)
	body = append(body, 3)
	body = append(body, sel...)
	resp, err := command(rw, "PCR_Read", stNoSessions, ccPCRRead, body)
	if err != nil {
		return nil, err
	}
	// updateCounter, TPML_PCR_SELECTION (count, alg, size, 3 bytes), TPML_DIGEST (count, size, digest)
	r := bytes.NewReader(resp)
	var hdr struct {
		Update  uint32
		Count   uint32
		Alg     uint16
		SelSize uint8
	}
	if err := binary.Read(r, binary.BigEndian, &hdr); err != nil || hdr.Count != 1 || hdr.SelSize > 4 {
		return nil, errors.New("TPM2_PCR_Read: malformed response")
	}
	if _, err := r.Seek(int64(hdr.SelSize), io.SeekCurrent); err != nil {
		return nil, err
	}
	var dl struct {
		Count uint32
		Size  uint16
	}
	if err := binary.Read(r, binary.BigEndian, &dl); err != nil || dl.Count != 1 || int(dl.Size) != alg.Size() {
		return nil, errors.New("TPM2_PCR_Read: malformed response (bank not allocated?)")
	}
	d := make([]byte, dl.Size)
	if _, err := io.ReadFull(r, d); err != nil {
		return nil, errors.New("TPM2_PCR_Read: malformed response")
	}
	return d, nil
}
