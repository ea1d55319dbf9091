package trust

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/initramfs"
)

func TestKeyRoundTrip(t *testing.T) {
	pub, priv, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	k, err := ParseKey(MarshalPublic(pub, "release  key\n2026"))
	if err != nil {
		t.Fatal(err)
	}
	if !k.Public.Equal(pub) || k.Comment != "release key 2026" {
		t.Errorf("ParseKey(MarshalPublic) = %x %q, want %x %q", k.Public, k.Comment, pub, "release key 2026")
	}
	got, err := ParseSecret(MarshalSecret(priv))
	if err != nil || !got.Equal(priv) {
		t.Errorf("ParseSecret(MarshalSecret) = %v, %v", got, err)
	}
	if fp := k.Fingerprint(); !strings.HasPrefix(fp, "ed25519:") || len(fp) != len("ed25519:")+16 {
		t.Errorf("Fingerprint = %q", fp)
	}
}

// A public key made by signify-openbsd -G -n (Debian 31-3). The signing
// interop test (package manifest) runs the tool itself.
const signifyPub = "untrusted comment: signify public key\nRWSYaKpvBk3p6B0sWzlQAgW1q55spZVq59++CwseSbcdH0KyAgtHztX5\n"

func TestParseSignifyKey(t *testing.T) {
	k, err := ParseKey([]byte(signifyPub))
	if err != nil {
		t.Fatal(err)
	}
	if k.SignifyNum == ([8]byte{}) || len(k.Public) != 32 || k.Comment != "signify public key" {
		t.Errorf("ParseKey(signify) = %+v", k)
	}
}

func TestParseKeyErrors(t *testing.T) {
	for _, in := range []string{
		"",
		"ssh-ed25519 AAAA",
		"warmboot-public-key rsa AAAA x",
		"warmboot-public-key ed25519 AAAA x",
		"untrusted comment: x\nRWRy\n",
		"untrusted comment: x\n!!!\n",
		"warmboot-public-key ed25519 " + strings.Repeat("A", 43) + "= x\nmore",
	} {
		if _, err := ParseKey([]byte(in)); err == nil {
			t.Errorf("ParseKey(%q) = nil error", in)
		}
	}
}

func TestLoad(t *testing.T) {
	pub, _, _ := Generate()
	pubFile := MarshalPublic(pub, "a")
	for _, tc := range []struct {
		name    string
		files   map[string]string
		want    Policy
		keys    int
		wantErr string
	}{
		{name: "no trust dir", files: nil, want: Off},
		{name: "enforce", files: map[string]string{"t/policy": "policy enforce\nedits refuse\n", "t/keys/a.pub": string(pubFile), "t/keys/b.pub": signifyPub}, want: Enforce, keys: 2},
		{name: "warn", files: map[string]string{"t/policy": "# c\n\npolicy warn\n", "t/keys/a.pub": string(pubFile)}, want: Warn, keys: 1},
		{name: "enforce without keys", files: map[string]string{"t/policy": "policy enforce\n"}, wantErr: "no keys"},
		{name: "bad policy", files: map[string]string{"t/policy": "policy strict\n"}, wantErr: `line 1: unknown policy "strict"`},
		{name: "bad setting", files: map[string]string{"t/policy": "policy off\nmode x\n"}, wantErr: `line 2: unknown setting "mode"`},
		{name: "bad key", files: map[string]string{"t/policy": "policy warn\n", "t/keys/x.pub": "junk"}, wantErr: "t/keys/x.pub: not a public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, c := range tc.files {
				fsys[n] = &fstest.MapFile{Data: []byte(c)}
			}
			tr, err := Load(fsys, "t")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tr.Policy != tc.want || len(tr.Keys) != tc.keys {
				t.Errorf("Load = policy %s with %d keys, want %s with %d", tr.Policy, len(tr.Keys), tc.want, tc.keys)
			}
		})
	}
}

func TestPolicyRoundTrip(t *testing.T) {
	in := Trust{Policy: Warn, Edits: EditsUnsigned}
	var got Trust
	if err := got.parsePolicy(in.MarshalPolicy()); err != nil || got.Policy != Warn || got.Edits != EditsUnsigned {
		t.Errorf("parsePolicy(MarshalPolicy) = %+v, %v", got, err)
	}
}

// What Archive writes, Load reads back from the initramfs it is appended
// to: the policy, and the key files byte for byte, in order (a signify
// key keeps its key number).
func TestArchive(t *testing.T) {
	pub, _, err := Generate()
	if err != nil {
		t.Fatal(err)
	}
	keys := []KeyFile{{Name: "/etc/keys/release.pub", Data: MarshalPublic(pub, "release")}, {Name: "ops.pub", Data: []byte(signifyPub)}}
	base, err := handoff.Segment(map[string][]byte{"/init": []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	archive, want, err := Archive(Warn, EditsUnsigned, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(archive)%4 != 0 {
		t.Errorf("Archive is %d bytes long, not a multiple of 4", len(archive))
	}
	files, err := initramfs.Read(append(base, archive...), func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{Dir + "/keys/00-release.pub", Dir + "/keys/01-ops.pub"} {
		if _, ok := files[n]; !ok {
			t.Errorf("the archive has no %s", n)
		}
	}
	if string(files[Dir+"/keys/01-ops.pub"]) != signifyPub {
		t.Errorf("the signify key file = %q, want it as given", files[Dir+"/keys/01-ops.pub"])
	}
	got, err := Load(files, Dir)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load(Archive) differs from the trust Archive returned (-want +got):\n%s", diff)
	}
	if got.Policy != Warn || got.Edits != EditsUnsigned || len(got.Keys) != 2 || got.Keys[1].SignifyNum == [8]byte{} {
		t.Errorf("Load(Archive) = %+v", got)
	}

	for _, tc := range []struct {
		p    Policy
		keys []KeyFile
		want string
	}{
		{Enforce, nil, "policy enforce needs keys"},
		{Warn, []KeyFile{{Name: "bad.pub", Data: []byte("junk")}}, "key bad.pub: not a public key"},
	} {
		if _, _, err := Archive(tc.p, EditsRefuse, tc.keys); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Archive(%s, %v) = %v, want an error containing %q", tc.p, tc.keys, err, tc.want)
		}
	}
	if archive, got, err := Archive(Off, EditsRefuse, nil); err != nil || len(archive) == 0 || got.Policy != Off {
		t.Errorf("Archive(off, no keys) = %d bytes, %+v, %v; want the policy file alone", len(archive), got, err)
	}
}

func FuzzParseKey(f *testing.F) {
	pub, _, _ := Generate()
	f.Add(MarshalPublic(pub, "c"))
	f.Add([]byte(signifyPub))
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) > 4096 {
			return
		}
		k, err := ParseKey(data)
		if err == nil && len(k.Public) != 32 {
			t.Fatalf("ParseKey accepted a %d-byte key", len(k.Public))
		}
		if err == nil && k.SignifyNum == ([8]byte{}) {
			// Our format round-trips.
			k2, err := ParseKey(MarshalPublic(k.Public, k.Comment))
			if err != nil || !bytes.Equal(k2.Public, k.Public) {
				t.Fatalf("round trip: %v", err)
			}
		}
		if _, err := ParseSignifySig(data); err != nil {
			return
		}
	})
}

// Certificates and deny lists given with the keys are kept in the
// archive and read back by Load, with the uki rule.
func TestArchiveCertsAndDeny(t *testing.T) {
	der, _ := hex.DecodeString("3082") // not a certificate
	if _, _, err := ArchiveUKI(Enforce, EditsRefuse, UKIBoth, []KeyFile{{Name: "db.crt", Data: der}}); err == nil || !strings.Contains(err.Error(), "db.crt: not an X.509 certificate") {
		t.Errorf("a bad certificate: %v", err)
	}
	if _, _, err := ArchiveUKI(Enforce, EditsRefuse, "", []KeyFile{{Name: "x.deny", Data: []byte("sha256:zz\n")}}); err == nil || !strings.Contains(err.Error(), "x.deny: line 1") {
		t.Errorf("a bad deny list: %v", err)
	}
	pub, _, _ := Generate()
	deny := "# revoked\nsha256:" + strings.Repeat("ab", 32) + " leaked key\n"
	seg, tr, err := ArchiveUKI(Enforce, EditsRefuse, UKIBoth, []KeyFile{{Name: "k.pub", Data: MarshalPublic(pub, "k")}, {Name: "revoked.deny", Data: []byte(deny)}})
	if err != nil || len(tr.Deny) != 1 || tr.UKI != UKIBoth {
		t.Fatalf("ArchiveUKI = %+v, %v", tr, err)
	}
	files, err := initramfs.Read(seg, func(string) bool { return true })
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{}
	for n, b := range files {
		fsys[n] = &fstest.MapFile{Data: b}
	}
	got, err := Load(fsys, Dir)
	if err != nil || len(got.Deny) != 1 || got.Deny[0][0] != 0xab || got.UKI != UKIBoth || len(got.Keys) != 1 {
		t.Errorf("Load = %+v, %v", got, err)
	}
}
