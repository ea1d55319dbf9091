// Package trust holds the keys and the policy an image trusts: what
// warmboot accepts as a signature, and what it does when an entry has none.
//
// Keys are Ed25519 public keys in one of two file formats: our own one-line
// form written by "warmsign keygen" (see ParseKey), or the public key file
// of OpenBSD's signify, which Debian ships as signify-openbsd. Both are the
// same 32 bytes of key; a key's fingerprint does not depend on the file
// format it came in. We parse both here with the standard library instead
// of pulling in an OpenPGP or minisign implementation: signify signs with
// plain Ed25519 over the message, exactly what our own signatures are, so
// accepting it costs a base64 decode, not a dependency (see package
// manifest).
//
// The image's trust lives in Dir inside the initramfs: Dir/policy and
// Dir/keys/*.pub, written at image build time as an Archive appended to
// the image (images/mkimage, through images/trustimg) and read by Load.
// Nothing the booted system or the bootloader's kernel command line says
// can change it.
package trust

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/handoff"
)

// Dir is where an image keeps its trust, inside the initramfs.
const Dir = "etc/warmboot/trust"

// Our key file formats: one line each, a tag, the algorithm, base64 of the
// raw key and, for public keys, a free comment.
const (
	pubTag = "warmboot-public-key"
	secTag = "warmboot-secret-key"
	alg    = "ed25519"
)

// Key is a trusted Ed25519 public key.
type Key struct {
	Public ed25519.PublicKey
	// Comment is the key file's comment (our format) or its "untrusted
	// comment" (signify); informational only.
	Comment string
	// SignifyNum is the 8-byte key number of a signify key, which its
	// signatures carry; zero for our keys.
	SignifyNum [8]byte
}

// Fingerprint names a key: "ed25519:" and the first 8 bytes of the SHA-256
// of the raw public key, in hex.
func (k Key) Fingerprint() string { return Fingerprint(k.Public) }

// Fingerprint is Key.Fingerprint for a bare public key.
func Fingerprint(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return alg + ":" + hex.EncodeToString(sum[:8])
}

// KeyID is the 8 bytes a fingerprint shows, as our signature lines carry it.
func KeyID(pub ed25519.PublicKey) string { return strings.TrimPrefix(Fingerprint(pub), alg+":") }

// ParseKey reads a public key file in either format.
func ParseKey(data []byte) (Key, error) {
	text := strings.TrimSpace(string(data))
	if strings.HasPrefix(text, "untrusted comment:") {
		return parseSignifyKey(text)
	}
	f := strings.Fields(text)
	if len(f) < 3 || f[0] != pubTag {
		return Key{}, fmt.Errorf("not a public key: want %q (warmsign keygen) or a signify public key", pubTag+" "+alg+" BASE64 [comment]")
	}
	if f[1] != alg {
		return Key{}, fmt.Errorf("unsupported key algorithm %q (want %s)", f[1], alg)
	}
	if strings.Contains(text, "\n") {
		return Key{}, errors.New("public key file has more than one line")
	}
	raw, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return Key{}, fmt.Errorf("bad key: want base64 of %d bytes", ed25519.PublicKeySize)
	}
	return Key{Public: ed25519.PublicKey(raw), Comment: strings.Join(f[3:], " ")}, nil
}

// signify's formats (signify(1), signify.c): a comment line, then base64 of
// "Ed", an 8-byte key number and the key or signature.
const signifyAlg = "Ed"

func parseSignifyKey(text string) (Key, error) {
	comment, raw, err := signifyBlob(text, 2+8+ed25519.PublicKeySize)
	if err != nil {
		return Key{}, fmt.Errorf("signify public key: %w", err)
	}
	k := Key{Public: ed25519.PublicKey(bytes.Clone(raw[10:])), Comment: comment}
	copy(k.SignifyNum[:], raw[2:10])
	return k, nil
}

// SignifySig is a signify signature file's content.
type SignifySig struct {
	KeyNum [8]byte
	Sig    []byte
}

// ParseSignifySig reads a signify signature file (signify -S output).
func ParseSignifySig(data []byte) (SignifySig, error) {
	_, raw, err := signifyBlob(strings.TrimSpace(string(data)), 2+8+ed25519.SignatureSize)
	if err != nil {
		return SignifySig{}, fmt.Errorf("signify signature: %w", err)
	}
	var s SignifySig
	copy(s.KeyNum[:], raw[2:10])
	s.Sig = bytes.Clone(raw[10:])
	return s, nil
}

func signifyBlob(text string, size int) (comment string, raw []byte, err error) {
	lines := strings.Split(text, "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "untrusted comment:") {
		return "", nil, errors.New(`want two lines: "untrusted comment: ..." and base64`)
	}
	raw, err = base64.StdEncoding.DecodeString(strings.TrimSpace(lines[1]))
	if err != nil {
		return "", nil, fmt.Errorf("bad base64: %w", err)
	}
	if len(raw) != size || string(raw[:2]) != signifyAlg {
		return "", nil, fmt.Errorf("want %d bytes starting with %q, got %d", size, signifyAlg, len(raw))
	}
	return strings.TrimSpace(strings.TrimPrefix(lines[0], "untrusted comment:")), raw, nil
}

// MarshalPublic writes a public key in our format.
func MarshalPublic(pub ed25519.PublicKey, comment string) []byte {
	comment = strings.Join(strings.Fields(comment), " ")
	return fmt.Appendf(nil, "%s %s %s %s\n", pubTag, alg, base64.StdEncoding.EncodeToString(pub), comment)
}

// MarshalSecret writes a private key (its seed) in our format.
func MarshalSecret(priv ed25519.PrivateKey) []byte {
	return fmt.Appendf(nil, "%s %s %s\n", secTag, alg, base64.StdEncoding.EncodeToString(priv.Seed()))
}

// ParseSecret reads a private key written by MarshalSecret.
func ParseSecret(data []byte) (ed25519.PrivateKey, error) {
	f := strings.Fields(string(data))
	if len(f) != 3 || f[0] != secTag || f[1] != alg {
		if strings.HasPrefix(string(data), "untrusted comment:") {
			return nil, errors.New("this is a signify key: sign with signify-openbsd -S, not warmsign")
		}
		return nil, fmt.Errorf("not a warmsign secret key (want %q)", secTag+" "+alg+" BASE64")
	}
	seed, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("bad secret key: want base64 of a %d-byte seed", ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Generate makes a new key pair.
func Generate() (ed25519.PublicKey, ed25519.PrivateKey, error) {
	return ed25519.GenerateKey(rand.Reader)
}

// Policy says what the bootloader does with verification results.
type Policy string

const (
	// Off boots anything and checks nothing: the default without keys.
	Off Policy = "off"
	// Warn checks every entry and boots it anyway, saying loudly what
	// failed.
	Warn Policy = "warn"
	// Enforce refuses an entry that fails and tries the next one: the
	// default whenever keys are given.
	Enforce Policy = "enforce"
)

// Edits says what happens when a user edits a command line in the menu.
type Edits string

const (
	// EditsRefuse disables editing when the policy checks signatures: the
	// signature covers the command line.
	EditsRefuse Edits = "refuse"
	// EditsUnsigned allows edits: the kernel and initrds must still match
	// a signed manifest, the edited command line is booted as unsigned and
	// measured as such.
	EditsUnsigned Edits = "unsigned"
)

// Trust is an image's policy and keys.
type Trust struct {
	Policy Policy
	Edits  Edits
	Keys   []Key
	// Certs and Deny check Authenticode signatures (see x509.go); UKI
	// says which signatures a unified kernel image needs ("" is
	// UKIEither).
	Certs []*x509.Certificate
	Deny  [][32]byte
	UKI   UKIRule
}

// ParsePolicy validates a policy name.
func ParsePolicy(s string) (Policy, error) {
	switch p := Policy(s); p {
	case Off, Warn, Enforce:
		return p, nil
	}
	return "", fmt.Errorf("unknown policy %q (want enforce, warn or off)", s)
}

// ParseEdits validates an edits setting.
func ParseEdits(s string) (Edits, error) {
	switch e := Edits(s); e {
	case EditsRefuse, EditsUnsigned:
		return e, nil
	}
	return "", fmt.Errorf("unknown edits setting %q (want refuse or unsigned)", s)
}

// MarshalPolicy writes the policy file.
func (t Trust) MarshalPolicy() []byte {
	b := fmt.Appendf(nil, "# warmboot trust policy (see README: trust model)\npolicy %s\nedits %s\n", t.Policy, t.Edits)
	if t.UKI != "" {
		b = fmt.Appendf(b, "uki %s\n", t.UKI)
	}
	return b
}

// Load reads the trust under dir in fsys. A missing dir is policy off
// with no keys. A policy that checks signatures with no keys, or a key or
// policy file that does not parse, is an error: an image built wrong must
// not boot unchecked.
func Load(fsys fs.FS, dir string) (Trust, error) {
	t := Trust{Policy: Off, Edits: EditsRefuse}
	pf := path.Join(dir, "policy")
	data, err := fs.ReadFile(fsys, pf)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return Trust{}, fmt.Errorf("reading %s: %w", pf, err)
	default:
		if err := t.parsePolicy(data); err != nil {
			return Trust{}, fmt.Errorf("%s: %w", pf, err)
		}
	}
	kd := path.Join(dir, "keys")
	var names []string
	for _, ext := range []string{"pub", "crt", "deny"} {
		ns, err := fs.Glob(fsys, path.Join(kd, "*."+ext))
		if err != nil {
			return Trust{}, err
		}
		names = append(names, ns...)
	}
	sort.Strings(names)
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return Trust{}, fmt.Errorf("reading %s: %w", n, err)
		}
		if err := t.add(n, data); err != nil {
			return Trust{}, fmt.Errorf("%s: %w", n, err)
		}
	}
	if t.Policy != Off && len(t.Keys) == 0 && len(t.Certs) == 0 {
		return Trust{}, fmt.Errorf("%s: policy %s but no keys in %s/*.pub or certificates in *.crt: rebuild the image with TRUST_KEYS", pf, t.Policy, kd)
	}
	return t, nil
}

// KeyFile is a public key file, as an image holds it (Archive).
type KeyFile struct {
	Name string // the file's name: for messages, and its name in Dir/keys
	Data []byte
}

// Archive writes an image's trust as the newc cpio archive Load reads
// under Dir: Dir/policy (MarshalPolicy of p and e) and each key file as
// Dir/keys/NN-NAME.pub, NN its place in keys, so Load reads them in that
// order, byte for byte as given. The archive is a multiple of 4 bytes
// (handoff.Segment): appended to an initramfs whose length is one too,
// the kernel unpacks it after the image's own files. It also returns the
// trust the archive holds. A key that does not parse is an error naming
// it, and so is a policy that checks signatures with no keys, which Load
// would refuse.
//
// Certificates (NAME.crt, .pem, .cer) and deny lists (NAME.deny) given
// among the keys are kept as Dir/keys/NN-NAME.crt and .deny; uki, if not
// empty, is the rule for unified kernel images.
func Archive(p Policy, e Edits, keys []KeyFile) ([]byte, Trust, error) {
	return ArchiveUKI(p, e, "", keys)
}

// ArchiveUKI is Archive with the rule for unified kernel images.
func ArchiveUKI(p Policy, e Edits, uki UKIRule, keys []KeyFile) ([]byte, Trust, error) {
	t := Trust{Policy: p, Edits: e, UKI: uki}
	files := map[string][]byte{"/" + path.Join(Dir, "policy"): t.MarshalPolicy()}
	for i, k := range keys {
		if err := t.add(k.Name, k.Data); err != nil {
			return nil, Trust{}, fmt.Errorf("key %s: %w", k.Name, err)
		}
		ext := map[string]string{"key": ".pub", "cert": ".crt", "deny": ".deny"}[kind(k.Name)]
		name := strings.TrimSuffix(filepath.Base(k.Name), path.Ext(k.Name))
		files["/"+path.Join(Dir, "keys", fmt.Sprintf("%02d-%s%s", i, name, ext))] = k.Data
	}
	if t.Policy != Off && len(t.Keys) == 0 && len(t.Certs) == 0 {
		return nil, Trust{}, fmt.Errorf("policy %s needs keys", t.Policy)
	}
	seg, err := handoff.Segment(files)
	if err != nil {
		return nil, Trust{}, err
	}
	return seg, t, nil
}

func (t *Trust) parsePolicy(data []byte) error {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, _ := strings.Cut(line, " ")
		var err error
		switch k {
		case "policy":
			t.Policy, err = ParsePolicy(strings.TrimSpace(v))
		case "edits":
			t.Edits, err = ParseEdits(strings.TrimSpace(v))
		case "uki":
			t.UKI, err = ParseUKIRule(strings.TrimSpace(v))
		default:
			err = fmt.Errorf("unknown setting %q", k)
		}
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
	}
	return sc.Err()
}

// Find returns the trusted key with the given key ID (KeyID) or signify
// key number, or nil.
func (t Trust) Find(id string) *Key {
	for i, k := range t.Keys {
		if KeyID(k.Public) == id {
			return &t.Keys[i]
		}
	}
	return nil
}

// FindSignify returns the trusted signify key with number num, or nil.
func (t Trust) FindSignify(num [8]byte) *Key {
	for i, k := range t.Keys {
		if k.SignifyNum == num && num != [8]byte{} {
			return &t.Keys[i]
		}
	}
	return nil
}

// Fingerprints lists the keys' fingerprints (with comments), for messages.
func (t Trust) Fingerprints() string {
	if len(t.Keys) == 0 {
		return "none"
	}
	var s []string
	for _, k := range t.Keys {
		f := k.Fingerprint()
		if k.Comment != "" {
			f += " (" + k.Comment + ")"
		}
		s = append(s, f)
	}
	return strings.Join(s, ", ")
}

// String is the one-line summary the bootloader prints at start.
func (t Trust) String() string {
	if t.Policy == Off {
		return "policy off: entries are not verified"
	}
	s := fmt.Sprintf("policy %s, command line edits %s, trusted keys: %s", t.Policy, t.Edits, t.Fingerprints())
	if len(t.Certs) > 0 || len(t.Deny) > 0 || t.UKI != "" {
		var names []string
		for _, c := range t.Certs {
			name := c.Subject.CommonName
			if name == "" {
				name = c.Subject.String()
			}
			names = append(names, strconv.Quote(name))
		}
		s += fmt.Sprintf("; unified kernel images: %s, certificates: %s, denied: %d", t.UKIs(), strings.Join(names, ", "), len(t.Deny))
	}
	return s
}
