package manifest

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

func sample() Manifest {
	return Manifest{
		Kernel:  File{Path: "/vmlinuz-6.1", SHA256: sha256.Sum256([]byte("kernel"))},
		Initrds: []File{{Path: "/initrd 1.img", SHA256: sha256.Sum256([]byte("i1"))}, {Path: "/i2", SHA256: sha256.Sum256([]byte("i2"))}},
		Cmdline: `root=/dev/vda2 quiet  "x=a b"`,
	}
}

func keys(t testing.TB) (trust.Trust, []byte) {
	t.Helper()
	pub, priv, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	return trust.Trust{Policy: trust.Enforce, Keys: []trust.Key{{Public: pub}}}, priv
}

func TestSignOpen(t *testing.T) {
	tr, priv := keys(t)
	m := sample()
	signed := m.Sign(priv)
	got, k, err := Open(signed, nil, tr)
	if err != nil {
		t.Fatal(err)
	}
	if k == nil || !bytes.Equal(got.Marshal(), m.Marshal()) {
		t.Errorf("Open(Sign(m)) = %+v, want %+v", got, m)
	}
	other, _ := keys(t)
	for _, tc := range []struct {
		name string
		data []byte
		tr   trust.Trust
		want error
	}{
		{"unsigned", m.Marshal(), tr, ErrUnsigned},
		{"unknown key", signed, other, ErrUnknownKey},
		{"cmdline changed", bytes.Replace(signed, []byte("quiet"), []byte("quiez"), 1), tr, ErrBadSignature},
		{"hash changed", bytes.Replace(signed, []byte("sha256:"), []byte("sha256:0"), 1)[:len(signed)], tr, ErrMalformed},
		{"truncated", signed[:len(signed)-10], tr, ErrMalformed},
		{"garbage", []byte("\x7fELF\x02\x01\x01\n"), tr, ErrMalformed},
		{"empty", nil, tr, ErrMalformed},
		{"text after signature", append(bytes.Clone(signed), "cmdline x\n"...), tr, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, k, err := Open(tc.data, nil, tc.tr)
			if !errors.Is(err, tc.want) {
				t.Errorf("Open = %v, want %v", err, tc.want)
			}
			if k != nil || m.Kernel.Path != "" {
				t.Errorf("Open returned a manifest with an error")
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	h := strings.Repeat("ab", 32)
	for _, tc := range []struct{ in, want string }{
		{"warmboot-manifest v2\n", "line 1"},
		{"warmboot-manifest v1\ncmdline x\n", "line 2: cmdline before kernel"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\nkernel sha256:" + h + " /k\ncmdline\n", "line 3: second kernel line"},
		{"warmboot-manifest v1\nkernel md5:" + h + " /k\ncmdline\n", "unsupported hash"},
		{"warmboot-manifest v1\nkernel sha256:" + h[:10] + " /k\ncmdline\n", "64 lowercase hex digits"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " k\ncmdline\n", "/path"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\n", "no cmdline line"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\ncmdline a\ncmdline b\n", "second cmdline"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\ncmdline a\r\n", "carriage return"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\ncmdline a\nsignature ed25519 0123 AAAA\n", "16 hex"},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\ncmdline a\ntitle x\n", `unknown line "title"`},
		{"warmboot-manifest v1\nkernel sha256:" + h + " /k\ncmdline a", "does not end in a newline"},
	} {
		if _, _, _, err := Parse([]byte(tc.in)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", tc.in, err, tc.want)
		}
	}
}

// TestSignifyInterop signs a manifest with the real signify-openbsd and
// checks that Open accepts it with the signify public key, and refuses it
// once the manifest changes.
func TestSignifyInterop(t *testing.T) {
	bin := testtool.Need(t, "signify-openbsd")
	d := t.TempDir()
	pub, sec, mf := filepath.Join(d, "k.pub"), filepath.Join(d, "k.sec"), filepath.Join(d, "e.manifest")
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(bin, args...).CombinedOutput(); err != nil {
			t.Fatalf("signify %v: %v\n%s", args, err, out)
		}
	}
	run("-G", "-n", "-p", pub, "-s", sec)
	if err := os.WriteFile(mf, sample().Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	run("-S", "-s", sec, "-m", mf) // writes e.manifest.sig
	read := func(p string) []byte {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	k, err := trust.ParseKey(read(pub))
	if err != nil {
		t.Fatal(err)
	}
	tr := trust.Trust{Policy: trust.Enforce, Keys: []trust.Key{k}}
	data, sig := read(mf), read(mf+".sig")
	if _, got, err := Open(data, sig, tr); err != nil || got == nil {
		t.Fatalf("Open(signify-signed) = %v, %v", got, err)
	}
	bad := bytes.Replace(data, []byte("quiet"), []byte("quiez"), 1)
	if _, _, err := Open(bad, sig, tr); !errors.Is(err, ErrBadSignature) {
		t.Errorf("Open(changed manifest, signify sig) = %v, want %v", err, ErrBadSignature)
	}
	ours, _ := keys(t)
	if _, _, err := Open(data, sig, ours); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("Open(other key) = %v, want %v", err, ErrUnknownKey)
	}
	// And the other way round: what signify verifies, we made.
	if err := os.WriteFile(mf, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run("-V", "-p", pub, "-m", mf)
}

func FuzzParse(f *testing.F) {
	_, priv := keys(f)
	f.Add(sample().Marshal())
	f.Add(sample().Sign(priv))
	f.Add([]byte("warmboot-manifest v1\nkernel sha256:" + strings.Repeat("0", 64) + " /k\ncmdline\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, sig, body, err := Parse(data)
		if err != nil {
			return
		}
		// Round trip: what parses re-marshals to the bytes a signature
		// covers (or the whole file without one).
		want := data
		if sig != nil {
			want = body
		}
		if got := m.Marshal(); !bytes.Equal(got, want) {
			t.Fatalf("Marshal(Parse(%q)) = %q", data, got)
		}
	})
}
