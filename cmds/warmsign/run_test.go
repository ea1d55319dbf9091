package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/kexec"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/internal/testtool"
)

func write(t *testing.T, p, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func bootRoot(t *testing.T) string {
	root := t.TempDir()
	write(t, filepath.Join(root, "loader/entries/a.conf"), "title A\nversion 1\nlinux /vmlinuz-a\ninitrd /initrd-a\noptions console=ttyS0 quiet\n")
	write(t, filepath.Join(root, "loader/entries/b.conf"), "title B\nversion 2\nlinux /vmlinuz-b\noptions console=ttyS0\n")
	write(t, filepath.Join(root, "vmlinuz-a"), string(testtool.BzImage(4096)))
	write(t, filepath.Join(root, "initrd-a"), "initrd a")
	write(t, filepath.Join(root, "vmlinuz-b"), string(testtool.BzImage(4608)))
	return root
}

func warmsign(t *testing.T, wantCode int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, &stdout, &stderr); code != wantCode {
		t.Fatalf("warmsign %q = exit %d, want %d\nstdout: %s\nstderr: %s", args, code, wantCode, stdout.String(), stderr.String())
	}
	return stdout.String() + stderr.String()
}

// Unsigned manifests written over warmsign-signed ones with the same
// statement keep the signed ones (the kernel hooks run manifest -all
// after every upgrade); a changed entry gets a new, unsigned manifest.
func TestManifestKeepsSigned(t *testing.T) {
	root, keys := bootRoot(t), t.TempDir()
	warmsign(t, 0, "keygen", "-o", filepath.Join(keys, "k"))
	warmsign(t, 0, "sign", "-key", filepath.Join(keys, "k.sec"), "-root", root, "-all")
	if out := warmsign(t, 0, "manifest", "-root", root, "-all"); strings.Count(out, "unchanged") != 2 {
		t.Errorf("manifest -all over signed manifests:\n%s", out)
	}
	warmsign(t, 0, "verify", "-keys", filepath.Join(keys, "k.pub"), "-root", root)
	write(t, filepath.Join(root, "initrd-a"), "initrd a, rebuilt")
	out := warmsign(t, 0, "manifest", "-root", root, "-all")
	if !strings.Contains(out, `bls-a.manifest: "A 1" (/vmlinuz-a), unsigned`) || !strings.Contains(out, `bls-b.manifest: "B 2" (/vmlinuz-b), unchanged`) {
		t.Errorf("manifest -all after an initrd changed:\n%s", out)
	}
	warmsign(t, 1, "verify", "-keys", filepath.Join(keys, "k.pub"), "-root", root)
}

func TestKeygenSignVerify(t *testing.T) {
	root, keys := bootRoot(t), t.TempDir()
	k := filepath.Join(keys, "release")
	warmsign(t, 0, "keygen", "-o", k)
	if st, err := os.Stat(k + ".sec"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("secret key mode = %v, %v; want 0600", st.Mode(), err)
	}
	if out := warmsign(t, 1, "keygen", "-o", k); !strings.Contains(out, "never overwrites") {
		t.Errorf("second keygen: %s", out)
	}
	out := warmsign(t, 0, "sign", "-key", k+".sec", "-root", root, "-all")
	for _, want := range []string{"warmboot/bls-a.manifest: \"A 1\" (/vmlinuz-a), signed by ed25519:", "warmboot/bls-b.manifest"} {
		if !strings.Contains(out, want) {
			t.Errorf("sign output lacks %q:\n%s", want, out)
		}
	}
	out = warmsign(t, 0, "verify", "-keys", k+".pub", "-root", root)
	if strings.Count(out, "ok      ") != 2 {
		t.Errorf("verify: %s", out)
	}
	// One flipped byte in the initrd: refused, and the message names it.
	write(t, filepath.Join(root, "initrd-a"), "initrd A")
	out = warmsign(t, 1, "verify", "-keys", k+".pub", "-root", root)
	if !strings.Contains(out, "REFUSED A 1: does not match its signed manifest: initrd /initrd-a has SHA-256") || !strings.Contains(out, "1 of 2 entries would be refused") {
		t.Errorf("verify after tampering: %s", out)
	}
	// A key the entries were not signed with.
	other := filepath.Join(keys, "other")
	warmsign(t, 0, "keygen", "-o", other)
	out = warmsign(t, 1, "verify", "-keys", other+".pub", "-root", root, "-entry", "2")
	if !strings.Contains(out, "signed by a key this image does not trust") {
		t.Errorf("verify with another key: %s", out)
	}
}

func TestExplicitAndErrors(t *testing.T) {
	root, keys := bootRoot(t), t.TempDir()
	k := filepath.Join(keys, "k")
	warmsign(t, 0, "keygen", "-o", k)
	out := warmsign(t, 0, "sign", "-key", k+".sec", "-root", root, "-kernel", "vmlinuz-b", "-cmdline", "console=ttyS0", "-o", "custom")
	if !strings.Contains(out, "warmboot/custom.manifest") {
		t.Errorf("explicit sign: %s", out)
	}
	warmsign(t, 0, "verify", "-keys", k+".pub", "-root", root, "-entry", "B 2")
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{2, []string{"sign", "-root", root, "-all"}, "-key NAME.sec is required"},
		{2, []string{"sign", "-key", k + ".sec", "-root", root}, "choose entries"},
		{1, []string{"sign", "-key", k + ".sec", "-root", root, "-entry", "nope"}, `no such entry "nope"; entries: b, a`},
		{1, []string{"sign", "-key", k + ".pub", "-root", root, "-all"}, "not a warmsign secret key"},
		{1, []string{"sign", "-key", k + ".sec", "-root", root, "-kernel", "/missing", "-cmdline", "x"}, "/missing"},
		{1, []string{"sign", "-key", k + ".sec", "-root", filepath.Join(root, "nope"), "-all"}, "is not a directory"},
		{2, []string{"frobnicate"}, "unknown command"},
	} {
		if out := warmsign(t, tc.code, tc.args...); !strings.Contains(out, tc.want) {
			t.Errorf("warmsign %q: output lacks %q:\n%s", tc.args, tc.want, out)
		}
	}
}

// Sign and manifest refuse what staging refuses, with kexec.Digests'
// checks and words: an entry the bootloader would not boot is not signed,
// and no manifest is written for it.
func TestSignRefusesWhatStagingRefuses(t *testing.T) {
	keys := t.TempDir()
	k := filepath.Join(keys, "k")
	warmsign(t, 0, "keygen", "-o", k)
	for _, tc := range []struct {
		name   string
		kernel func(p string) // writes the kernel at p
		want   string
	}{
		{"empty", func(p string) { write(t, p, "") }, "kernel /vmlinuz-x: file is empty"},
		{"not a bzImage", func(p string) { write(t, p, strings.Repeat("\x7fELF", 1024)) }, "kernel /vmlinuz-x: not an x86 bzImage"},
		{"over the limit", func(p string) {
			write(t, p, "")
			// Sparse: the size is refused before a byte is read.
			if err := os.Truncate(p, kexec.MaxKernel+1); err != nil {
				t.Fatal(err)
			}
		}, "kernel /vmlinuz-x: larger than 256 MiB"},
	} {
		for _, cmd := range [][]string{{"sign", "-key", k + ".sec"}, {"manifest"}} {
			t.Run(tc.name+"/"+cmd[0], func(t *testing.T) {
				root := t.TempDir()
				tc.kernel(filepath.Join(root, "vmlinuz-x"))
				args := append(cmd, "-root", root, "-kernel", "vmlinuz-x", "-cmdline", "quiet")
				if out := warmsign(t, 1, args...); !strings.Contains(out, tc.want) {
					t.Errorf("warmsign %q: output lacks %q:\n%s", args, tc.want, out)
				}
				if _, err := os.Stat(filepath.Join(root, "warmboot", "vmlinuz-x.manifest")); err == nil {
					t.Errorf("warmsign %q wrote a manifest for a kernel staging refuses", args)
				}
			})
		}
	}
}

// TestSignifyWorkflow: warmsign manifest, then the real signify-openbsd
// signs it, then verify accepts it with the signify public key.
func TestSignifyWorkflow(t *testing.T) {
	bin := testtool.Need(t, "signify-openbsd")
	root, keys := bootRoot(t), t.TempDir()
	pub, sec := filepath.Join(keys, "ops.pub"), filepath.Join(keys, "ops.sec")
	if out, err := exec.Command(bin, "-G", "-n", "-p", pub, "-s", sec).CombinedOutput(); err != nil {
		t.Fatalf("signify -G: %v\n%s", err, out)
	}
	out := warmsign(t, 0, "manifest", "-root", root, "-entry", "a")
	if !strings.Contains(out, "unsigned: sign with signify-openbsd -S") {
		t.Errorf("manifest: %s", out)
	}
	mf := filepath.Join(root, "warmboot/bls-a.manifest")
	warmsign(t, 1, "verify", "-keys", pub, "-root", root, "-entry", "a")
	if out, err := exec.Command(bin, "-S", "-s", sec, "-m", mf).CombinedOutput(); err != nil {
		t.Fatalf("signify -S: %v\n%s", err, out)
	}
	if out := warmsign(t, 0, "verify", "-keys", pub, "-root", root, "-entry", "a"); !strings.Contains(out, "ok      A 1") {
		t.Errorf("verify: %s", out)
	}
	// The kernel hooks write manifests for every entry after each
	// upgrade: an unchanged manifest keeps its signature.
	if out := warmsign(t, 0, "manifest", "-root", root, "-all"); !strings.Contains(out, "bls-a.manifest: \"A 1\" (/vmlinuz-a), unchanged") {
		t.Errorf("manifest -all over a signed manifest: %s", out)
	}
	if _, err := os.Stat(mf + ".sig"); err != nil {
		t.Errorf("the signature of an unchanged manifest was removed: %v", err)
	}
}

// When /boot is a directory of the filesystem (Debian's one root
// partition), manifests go to /boot/warmboot, which the bootloader reads,
// not to a new top-level /warmboot.
func TestManifestDirBoot(t *testing.T) {
	root := t.TempDir()
	write(t, filepath.Join(root, "boot/loader/entries/a.conf"), "title A\nlinux /vmlinuz-a\noptions quiet\n")
	write(t, filepath.Join(root, "boot/vmlinuz-a"), string(testtool.BzImage(4096)))
	warmsign(t, 0, "manifest", "-root", root, "-all")
	if _, err := os.Stat(filepath.Join(root, "boot/warmboot/bls-a.manifest")); err != nil {
		t.Errorf("manifest not under boot/warmboot: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "warmboot")); err == nil {
		t.Error("a top-level warmboot/ was made")
	}
}

// A GRUB menuentry inside a submenu, chosen by its title path.
func TestSignGrubEntry(t *testing.T) {
	root, keys := t.TempDir(), t.TempDir()
	write(t, filepath.Join(root, "grub/grub.cfg"), "submenu 'Advanced' {\n  menuentry 'Debian recovery' --id rec {\n    linux /vmlinuz root=/dev/vda2 single\n    initrd /initrd.img\n  }\n}\n")
	write(t, filepath.Join(root, "vmlinuz"), string(testtool.BzImage(4096)))
	write(t, filepath.Join(root, "initrd.img"), "i")
	k := filepath.Join(keys, "k")
	warmsign(t, 0, "keygen", "-o", k)
	out := warmsign(t, 0, "sign", "-key", k+".sec", "-root", root, "-entry", "Advanced > Debian recovery")
	if !strings.Contains(out, `"Advanced > Debian recovery" (/vmlinuz), signed by`) {
		t.Errorf("sign: %s", out)
	}
	data, err := os.ReadFile(filepath.Join(root, "warmboot", "grub-rec.manifest"))
	if err != nil {
		t.Fatalf("manifest not written under its id: %v\n%s", err, out)
	}
	if !strings.Contains(string(data), "\ncmdline BOOT_IMAGE=/vmlinuz root=/dev/vda2 single\nsignature ed25519 ") {
		t.Errorf("manifest = %q", data)
	}
	warmsign(t, 0, "verify", "-keys", k+".pub", "-root", root)
}

func TestMain(m *testing.M) {
	// The digest cache of the tests' own runs, not the machine's.
	dir, err := os.MkdirTemp("", "warmsign-test")
	if err != nil {
		panic(err)
	}
	sumsFile = filepath.Join(dir, "sums")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// -net writes the manifest beside the kernel, as the bootloader fetches
// it for a network entry.
func TestSignNet(t *testing.T) {
	root := t.TempDir()
	k := filepath.Join(t.TempDir(), "k")
	warmsign(t, 0, "keygen", "-o", k)
	os.MkdirAll(filepath.Join(root, "boot"), 0o755)
	os.WriteFile(filepath.Join(root, "boot/vmlinuz"), testtool.BzImage(4096), 0o644)
	os.WriteFile(filepath.Join(root, "boot/initrd.img"), []byte("initrd"), 0o644)
	out := warmsign(t, 0, "sign", "-net", "-key", k+".sec", "-root", root, "-kernel", "/boot/vmlinuz", "-initrd", "/boot/initrd.img", "-cmdline", "console=ttyS0")
	p := filepath.Join(root, "boot/vmlinuz.manifest")
	if !strings.Contains(out, p) {
		t.Errorf("sign -net said %q, want it to name %s", out, p)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, sig, _, err := manifest.Parse(data)
	if err != nil || sig == nil || m.Kernel.Path != "/boot/vmlinuz" || len(m.Initrds) != 1 || m.Cmdline != "console=ttyS0" {
		t.Errorf("manifest %+v (signed %v, %v)", m, sig != nil, err)
	}
	warmsign(t, 2, "sign", "-net", "-key", k+".sec", "-root", root, "-all")
}
