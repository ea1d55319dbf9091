// Package manifest is warmboot's signed statement of what may boot: the
// SHA-256 of a kernel and of each initrd, in order, and the exact command
// line, in a small text format of our own, signed with Ed25519.
//
// The format (UTF-8, LF line ends, at most MaxSize bytes):
//
//	warmboot-manifest v1
//	kernel sha256:<64 hex> <path>
//	initrd sha256:<64 hex> <path>        (zero or more, in boot order)
//	addon sha256:<64 hex> <path>         (zero or more: a UKI's add-ons)
//	cmdline <the exact command line>     ("cmdline" alone if empty)
//	signature ed25519 <key id> <base64>  (optional, see below)
//
// For a unified kernel image the kernel line names the image file (its
// kernel, initrd and command line are inside it and so covered by its
// hash), addon lines its add-ons (*.addon.efi) in the order they are
// applied, and cmdline the command line they compose.
//
// Paths are as the boot entry names them, relative to the root of the
// filesystem the config lives on; they tie a manifest to an entry's
// kernel so that a mismatch can be reported precisely. What is verified
// is the bytes: the hashes and the command line.
//
// A manifest is signed in one of two ways:
//
//   - warmsign appends a signature line: Ed25519 over every byte of the
//     file before that line, with the signer's key id (trust.KeyID).
//   - a user signs the manifest file (without a signature line) with
//     signify-openbsd -S, giving NAME.manifest.sig beside it: signify's
//     Ed25519 over the whole file. No warmboot tool is needed to do this,
//     only sha256sum, printf and signify.
//
// Parsing is strict: an unknown line, a repeated cmdline, a bad hash or
// anything after the signature line is an error naming the line. A verifier
// that guessed would be a verifier that could be fooled.
package manifest

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/warmboot/warmboot/boot/trust"
)

// MaxSize bounds a manifest file.
const MaxSize = 64 << 10

const header = "warmboot-manifest v1"

// File is a kernel or initrd the manifest covers.
type File struct {
	Path   string
	SHA256 [32]byte
}

// Manifest is what one signature covers.
type Manifest struct {
	Kernel  File
	Initrds []File
	// Addons are a UKI's add-ons, in the order they apply.
	Addons  []File
	Cmdline string
}

// Marshal writes m without a signature.
func (m Manifest) Marshal() []byte {
	var b bytes.Buffer
	b.WriteString(header + "\n")
	fmt.Fprintf(&b, "kernel sha256:%x %s\n", m.Kernel.SHA256, m.Kernel.Path)
	for _, f := range m.Initrds {
		fmt.Fprintf(&b, "initrd sha256:%x %s\n", f.SHA256, f.Path)
	}
	for _, f := range m.Addons {
		fmt.Fprintf(&b, "addon sha256:%x %s\n", f.SHA256, f.Path)
	}
	if m.Cmdline == "" {
		b.WriteString("cmdline\n")
	} else {
		fmt.Fprintf(&b, "cmdline %s\n", m.Cmdline)
	}
	return b.Bytes()
}

// Sign returns m with a signature line by priv.
func (m Manifest) Sign(priv ed25519.PrivateKey) []byte {
	body := m.Marshal()
	sig := ed25519.Sign(priv, body)
	pub := priv.Public().(ed25519.PublicKey)
	return fmt.Appendf(body, "signature ed25519 %s %s\n", trust.KeyID(pub), base64.StdEncoding.EncodeToString(sig))
}

// Signature is a signature line's content.
type Signature struct {
	KeyID string
	Sig   []byte
}

// Parse reads a manifest. sig is nil when the file has no signature line;
// body is the bytes the signature line covers.
func Parse(data []byte) (m Manifest, sig *Signature, body []byte, err error) {
	fail := func(line int, format string, args ...any) (Manifest, *Signature, []byte, error) {
		return Manifest{}, nil, nil, fmt.Errorf("%w: line %d: %s", ErrMalformed, line, fmt.Sprintf(format, args...))
	}
	if len(data) > MaxSize {
		return fail(0, "larger than %d bytes", MaxSize)
	}
	if len(data) == 0 {
		return fail(0, "empty file")
	}
	if first, _, _ := strings.Cut(string(data), "\n"); first != header {
		return fail(1, "want %q", header)
	}
	if data[len(data)-1] != '\n' {
		return fail(bytes.Count(data, []byte("\n"))+1, "file does not end in a newline (truncated?)")
	}
	lines := strings.Split(string(data[:len(data)-1]), "\n")
	if lines[0] != header {
		return fail(1, "want %q", header)
	}
	var haveKernel, haveCmdline bool
	off := len(lines[0]) + 1
	for i, l := range lines[1:] {
		n := i + 2
		if sig != nil {
			return fail(n, "text after the signature line")
		}
		if strings.ContainsAny(l, "\r\x00") {
			return fail(n, "carriage return or NUL in line")
		}
		key, rest, spaced := strings.Cut(l, " ")
		switch key {
		case "kernel", "initrd", "addon":
			f, err := parseFile(rest)
			if err != nil {
				return fail(n, "%s: %v", key, err)
			}
			if haveCmdline {
				return fail(n, "%s after cmdline", key)
			}
			if key == "kernel" {
				if haveKernel {
					return fail(n, "second kernel line")
				}
				haveKernel, m.Kernel = true, f
			} else {
				if !haveKernel {
					return fail(n, "%s before kernel", key)
				}
				if key == "initrd" {
					if len(m.Addons) > 0 {
						return fail(n, "initrd after addon")
					}
					m.Initrds = append(m.Initrds, f)
				} else {
					m.Addons = append(m.Addons, f)
				}
			}
		case "cmdline":
			if haveCmdline {
				return fail(n, "second cmdline line")
			}
			if !haveKernel {
				return fail(n, "cmdline before kernel")
			}
			if spaced && rest == "" {
				return fail(n, `an empty command line is written "cmdline", without a space`)
			}
			haveCmdline, m.Cmdline = true, rest
		case "signature":
			if !haveCmdline {
				return fail(n, "signature before cmdline")
			}
			s, err := parseSig(rest)
			if err != nil {
				return fail(n, "signature: %v", err)
			}
			sig, body = &s, data[:off]
		default:
			return fail(n, "unknown line %q", truncate(key, 20))
		}
		off += len(l) + 1
	}
	if !haveCmdline {
		return fail(len(lines)+1, "no cmdline line (truncated?)")
	}
	return m, sig, body, nil
}

func parseFile(s string) (File, error) {
	h, p, ok := strings.Cut(s, " ")
	if !ok || p == "" || !strings.HasPrefix(p, "/") {
		return File{}, errors.New(`want "sha256:HEX /path"`)
	}
	hx, ok := strings.CutPrefix(h, "sha256:")
	if !ok {
		return File{}, fmt.Errorf("unsupported hash %q (want sha256:)", truncate(h, 20))
	}
	var f File
	errHex := errors.New(`want "sha256:" and 64 lowercase hex digits`)
	if len(hx) != 64 || strings.ToLower(hx) != hx {
		return File{}, errHex
	}
	if _, err := hex.Decode(f.SHA256[:], []byte(hx)); err != nil {
		return File{}, errHex
	}
	f.Path = p
	return f, nil
}

func parseSig(s string) (Signature, error) {
	f := strings.Split(s, " ")
	if len(f) != 3 || f[0] != "ed25519" {
		return Signature{}, errors.New(`want "ed25519 KEYID BASE64"`)
	}
	if len(f[1]) != 16 {
		return Signature{}, errors.New("key id must be 16 hex digits")
	}
	sig, err := base64.StdEncoding.DecodeString(f[2])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Signature{}, fmt.Errorf("want base64 of %d bytes", ed25519.SignatureSize)
	}
	return Signature{KeyID: f[1], Sig: sig}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Open parses a manifest file and checks its signature against t's keys.
// signify is the content of NAME.manifest.sig, nil if there is none. It
// returns the manifest and the key that signed it, or an error wrapping
// one of the sentinels; never both.
func Open(data, signify []byte, t trust.Trust) (Manifest, *trust.Key, error) {
	m, sig, body, err := Parse(data)
	if err != nil {
		return Manifest{}, nil, err
	}
	switch {
	case sig != nil:
		k := t.Find(sig.KeyID)
		if k == nil {
			return Manifest{}, nil, fmt.Errorf("%w: key ed25519:%s (trusted: %s)", ErrUnknownKey, sig.KeyID, t.Fingerprints())
		}
		if !ed25519.Verify(k.Public, body, sig.Sig) {
			return Manifest{}, nil, fmt.Errorf("%w: by %s; the manifest was changed after it was signed", ErrBadSignature, k.Fingerprint())
		}
		return m, k, nil
	case signify != nil:
		s, err := trust.ParseSignifySig(signify)
		if err != nil {
			return Manifest{}, nil, fmt.Errorf("%w: .sig file: %v", ErrMalformed, err)
		}
		k := t.FindSignify(s.KeyNum)
		if k == nil {
			return Manifest{}, nil, fmt.Errorf("%w: signify key number %x (trusted: %s)", ErrUnknownKey, s.KeyNum, t.Fingerprints())
		}
		if !ed25519.Verify(k.Public, data, s.Sig) {
			return Manifest{}, nil, fmt.Errorf("%w: by %s (signify); the manifest was changed after it was signed", ErrBadSignature, k.Fingerprint())
		}
		return m, k, nil
	}
	return Manifest{}, nil, ErrUnsigned
}
