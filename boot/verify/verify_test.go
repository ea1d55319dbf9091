package verify

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/trust"
)

func setup(t *testing.T) (trust.Trust, ed25519.PrivateKey, entry.Entry, Digests) {
	pub, priv, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	e := entry.Entry{Kernel: "/vmlinuz", Initrds: []string{"/initrd"}, Cmdline: "console=ttyS0", Source: entry.Source{Device: "vda1", File: "/loader/entries/a.conf"}}
	d := Digests{Kernel: sha256.Sum256([]byte("k")), Initrds: [][32]byte{sha256.Sum256([]byte("i"))}}
	return trust.Trust{Policy: trust.Enforce, Keys: []trust.Key{{Public: pub}}}, priv, e, d
}

func mf(e entry.Entry, d Digests, cmdline string) manifest.Manifest {
	return ManifestFor(e, cmdline, d)
}

func TestCheck(t *testing.T) {
	tr, priv, e, d := setup(t)
	_, other, _ := trust.Generate()
	good := mf(e, d, e.Cmdline).Sign(priv)
	recovery := mf(e, d, e.Cmdline+" single").Sign(priv)
	flipped := d
	flipped.Kernel[0] ^= 1
	badInitrd := Digests{Kernel: d.Kernel, Initrds: [][32]byte{{1}}}
	otherKernel := mf(entry.Entry{Kernel: "/vmlinuz-old"}, d, "x").Sign(priv)
	for _, tc := range []struct {
		name    string
		files   map[string][]byte
		d       Digests
		cmdline string
		edited  bool
		want    error
		msg     string
	}{
		{name: "good", files: map[string][]byte{"warmboot/a.manifest": good}},
		{name: "second of two", files: map[string][]byte{"boot/warmboot/a.manifest": recovery, "warmboot/b.manifest": good}},
		{name: "no manifest", files: map[string][]byte{"warmboot/o.manifest": otherKernel}, want: ErrNoManifest,
			msg: "no signed manifest names this kernel: kernel vda1:/vmlinuz (looked in vda1:/warmboot/, vda1:/boot/warmboot/; sign the entry with warmsign sign)"},
		{name: "kernel flipped", files: map[string][]byte{"warmboot/a.manifest": good}, d: flipped, want: ErrMismatch,
			msg: "kernel vda1:/vmlinuz has SHA-256 "},
		{name: "initrd changed", files: map[string][]byte{"warmboot/a.manifest": good}, d: badInitrd, want: ErrMismatch,
			msg: "initrd vda1:/initrd has SHA-256 0100000000000000..., vda1:/warmboot/a.manifest signs "},
		{name: "cmdline changed", files: map[string][]byte{"warmboot/a.manifest": good, "warmboot/r.manifest": recovery}, cmdline: "console=ttyS0 init=/bin/sh", want: ErrMismatch,
			msg: `command line "console=ttyS0 init=/bin/sh" is not the signed "console=ttyS0" (vda1:/warmboot/a.manifest)`},
		{name: "edit allowed unsigned", files: map[string][]byte{"warmboot/a.manifest": good}, cmdline: "console=ttyS0 init=/bin/sh", edited: true},
		{name: "edit still needs the kernel", files: map[string][]byte{"warmboot/a.manifest": good}, d: flipped, cmdline: "x", edited: true, want: ErrMismatch},
		{name: "unknown key", files: map[string][]byte{"warmboot/a.manifest": mf(e, d, e.Cmdline).Sign(other)}, want: manifest.ErrUnknownKey,
			msg: "vda1:/warmboot/a.manifest: signed by a key this image does not trust: key ed25519:"},
		{name: "unsigned", files: map[string][]byte{"warmboot/a.manifest": mf(e, d, e.Cmdline).Marshal()}, want: manifest.ErrUnsigned},
		{name: "truncated", files: map[string][]byte{"warmboot/a.manifest": good[:len(good)-20]}, want: manifest.ErrMalformed,
			msg: "vda1:/warmboot/a.manifest: malformed manifest: line 5: file does not end in a newline (truncated?)"},
		{name: "garbage", files: map[string][]byte{"warmboot/a.manifest": []byte("\x00\x01garbage")}, want: manifest.ErrMalformed},
		{name: "garbage beside a good one", files: map[string][]byte{"warmboot/0.manifest": []byte("junk"), "warmboot/a.manifest": good}},
		{name: "bad signify sig", files: map[string][]byte{"warmboot/a.manifest": mf(e, d, e.Cmdline).Marshal(), "warmboot/a.manifest.sig": []byte("untrusted comment: x\nAAAA\n")}, want: manifest.ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, c := range tc.files {
				fsys[n] = &fstest.MapFile{Data: c}
			}
			dd := d
			if tc.d.Kernel != ([32]byte{}) {
				dd = tc.d
			}
			cmdline := e.Cmdline
			if tc.cmdline != "" {
				cmdline = tc.cmdline
			}
			r, err := Load(fsys, "vda1", tr).Check(e, cmdline, dd, !tc.edited)
			if tc.want == nil {
				if err != nil || r.Key == nil {
					t.Fatalf("Check = %+v, %v, want a pass", r, err)
				}
				if r.CmdlineSigned == tc.edited {
					t.Errorf("CmdlineSigned = %v with edited %v", r.CmdlineSigned, tc.edited)
				}
				return
			}
			if !errors.Is(err, tc.want) || r.Key != nil {
				t.Fatalf("Check = %+v, %v, want %v", r, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Check error = %q, want it to contain %q", err, tc.msg)
			}
		})
	}
}

// Apply is the policy: off checks nothing, warn boots a failed entry with
// the failure noted, enforce refuses it; the event says which.
func TestApply(t *testing.T) {
	tr, priv, e, d := setup(t)
	fp := tr.Keys[0].Fingerprint()
	good := fstest.MapFS{"warmboot/a.manifest": {Data: mf(e, d, e.Cmdline).Sign(priv)}}
	none := fstest.MapFS{}
	for _, tc := range []struct {
		name         string
		policy       trust.Policy
		fsys         fstest.MapFS
		checkCmdline bool
		cmdline      string
		refused      bool
		failed       bool
		event        string
	}{
		{name: "off", policy: trust.Off, fsys: none, checkCmdline: true, event: "warmboot_trust: policy=off"},
		{name: "warn, unsigned", policy: trust.Warn, fsys: none, checkCmdline: true, failed: true, event: "warmboot_trust: policy=warn verified=no"},
		{name: "warn, signed", policy: trust.Warn, fsys: good, checkCmdline: true,
			event: "warmboot_trust: policy=warn key=" + fp + " manifest=vda1:/warmboot/a.manifest cmdline=signed"},
		{name: "enforce, unsigned", policy: trust.Enforce, fsys: none, checkCmdline: true, refused: true},
		{name: "enforce, signed", policy: trust.Enforce, fsys: good, checkCmdline: true,
			event: "warmboot_trust: policy=enforce key=" + fp + " manifest=vda1:/warmboot/a.manifest cmdline=signed"},
		{name: "enforce, edit allowed unsigned", policy: trust.Enforce, fsys: good, cmdline: "console=ttyS0 single",
			event: "warmboot_trust: policy=enforce key=" + fp + " manifest=vda1:/warmboot/a.manifest cmdline=unsigned"},
		{name: "enforce, edit checked", policy: trust.Enforce, fsys: good, checkCmdline: true, cmdline: "console=ttyS0 single", refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tt := tr
			tt.Policy = tc.policy
			cmdline := e.Cmdline
			if tc.cmdline != "" {
				cmdline = tc.cmdline
			}
			v, err := Apply(tc.fsys, tt, e, cmdline, d, tc.checkCmdline)
			if tc.refused {
				if err == nil {
					t.Fatalf("Apply = %+v, want a refusal", v)
				}
				return
			}
			if err != nil {
				t.Fatalf("Apply: %v", err)
			}
			if (v.Failed != nil) != tc.failed || (v.Result != nil) != (!tc.failed && tc.policy != trust.Off) {
				t.Errorf("Apply = %+v, want failed=%v", v, tc.failed)
			}
			if got := v.Event(); got != tc.event {
				t.Errorf("Event() = %q, want %q", got, tc.event)
			}
		})
	}
}
