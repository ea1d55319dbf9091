package vmtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/images/disk"
	"github.com/warmboot/warmboot/images/trustimg"
)

// Images derived from the one make built, by the same code path as
// "make image TRUST_KEYS=...": the test key and a signify key, under each
// policy.
var (
	signKey, stranger ed25519.PrivateKey
	signifyPub        []byte // trusted by the images
	signifySec        string // its secret key file
	enforceImage      string
	warnImage         string
	editsImage        string // enforce, edits booted as unsigned
	kernelData        []byte
	targetData        []byte
)

// imageKeys are the keys the trust images enforce.
var imageKeys []trust.KeyFile

func trustImages(tmp string) error {
	base, err := os.ReadFile(strings.TrimSuffix(image, ".zst"))
	if err != nil {
		return fmt.Errorf("%w: the VM tests derive their trust images from the uncompressed image make builds beside %s", err, image)
	}
	if kernelData, err = os.ReadFile(kernel); err != nil {
		return err
	}
	if targetData, err = os.ReadFile(target); err != nil {
		return err
	}
	var pub ed25519.PublicKey
	if pub, signKey, err = trust.Generate(); err != nil {
		return err
	}
	if _, stranger, err = trust.Generate(); err != nil {
		return err
	}
	bin, err := exec.LookPath("signify-openbsd")
	if err != nil {
		return fmt.Errorf("%w: make deps installs signify-openbsd", err)
	}
	signifySec = filepath.Join(tmp, "ops.sec")
	if out, err := exec.Command(bin, "-G", "-n", "-p", filepath.Join(tmp, "ops.pub"), "-s", signifySec).CombinedOutput(); err != nil {
		return fmt.Errorf("signify -G: %v: %s", err, out)
	}
	if signifyPub, err = os.ReadFile(filepath.Join(tmp, "ops.pub")); err != nil {
		return err
	}
	imageKeys = []trust.KeyFile{{Name: "vmtest.pub", Data: trust.MarshalPublic(pub, "vmtest")}, {Name: "ops.pub", Data: signifyPub}}
	keys := imageKeys
	for _, v := range []struct {
		path          *string
		policy, edits string
	}{{&enforceImage, "enforce", ""}, {&warnImage, "warn", ""}, {&editsImage, "enforce", "unsigned"}} {
		img, _, err := trustimg.Append(base, keys, v.policy, v.edits, "")
		if err != nil {
			return err
		}
		*v.path = filepath.Join(tmp, "warmboot-"+v.policy+"-"+v.edits+".cpio")
		if err := os.WriteFile(*v.path, img, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

// signed is a manifest for kernel at kpath (with content kdata) plus the
// target initramfs and cmdline, signed by key.
func signed(key ed25519.PrivateKey, kpath string, kdata []byte, cmdline string) string {
	return string(unsigned(kpath, kdata, cmdline).Sign(key))
}

func unsigned(kpath string, kdata []byte, cmdline string) manifest.Manifest {
	return manifest.Manifest{
		Kernel:  manifest.File{Path: kpath, SHA256: sum(kdata)},
		Initrds: []manifest.File{{Path: "/target.img", SHA256: sum(targetData)}},
		Cmdline: cmdline,
	}
}

const (
	cmdA = "console=ttyS0 quiet wbtest=a"
	cmdB = "console=ttyS0 quiet wbtest=b"
)

// twoEntries is a disk with entry A (wb-2.conf, ranked first as BLS IDs
// sort in decreasing version order, so the default; its kernel
// at /vmlinuz-a) and entry B (wb-1.conf, /vmlinuz, signed correctly by
// signKey), plus files.
func twoEntries(files map[string][]byte) disk.Disk {
	d := bootFS(map[string]string{
		"/loader/entries/wb-2.conf": blsEntry("A", "2", "", "/vmlinuz-a", cmdA),
		"/loader/entries/wb-1.conf": blsEntry("B", "1", "", "/vmlinuz", cmdB),
		"/warmboot/b.manifest":      signed(signKey, "/vmlinuz", kernelData, cmdB),
	})
	p := &d.Parts[0]
	p.SizeMiB = 48
	p.Files["/vmlinuz-a"] = disk.File{Src: kernel}
	for n, c := range files {
		p.Files[n] = disk.File{Data: c}
	}
	return d
}

func short(h [32]byte) string { return fmt.Sprintf("%x...", h[:8]) }

// refusedThenB boots d with the enforce image and expects A refused with
// why, then B verified and booted.
func refusedThenB(t *testing.T, d disk.Disk, why string) {
	t.Helper()
	vm := startVM(t, d, enforceImage, fast)
	expect(t, vm,
		"warmboot: policy enforce, command line edits refuse, trusted keys: ed25519:",
		`warmboot: refused "A 2": `+why+"; trying the next entry",
		"warmboot: verified: signed by "+trust.Fingerprint(signKey.Public().(ed25519.PublicKey))+" (vda1:/warmboot/b.manifest)",
		`warmboot: booting "B 1"`,
		marker(cmdB))
	finish(t, vm, true)
}

func TestVerifyKernelFlipped(t *testing.T) {
	parallel(t)
	flipped := bytes.Clone(kernelData)
	flipped[len(flipped)/2] ^= 0x01
	refusedThenB(t, twoEntries(map[string][]byte{
		"/vmlinuz-a":           flipped,
		"/warmboot/a.manifest": []byte(signed(signKey, "/vmlinuz-a", kernelData, cmdA)),
	}), fmt.Sprintf("does not match its signed manifest: kernel vda1:/vmlinuz-a has SHA-256 %s, vda1:/warmboot/a.manifest signs %s (the file changed after signing: restore it or re-sign)",
		short(sum(flipped)), short(sum(kernelData))))
}

func TestVerifyInitrdTampered(t *testing.T) {
	parallel(t)
	bad := append(bytes.Clone(targetData), "appended"...)
	d := twoEntries(map[string][]byte{
		"/target-a.img":        bad,
		"/warmboot/a.manifest": []byte(signed(signKey, "/vmlinuz-a", kernelData, cmdA)),
	})
	d.Parts[0].Files["/loader/entries/wb-2.conf"] = disk.File{Data: []byte(strings.Replace(blsEntry("A", "2", "", "/vmlinuz-a", cmdA), "/target.img", "/target-a.img", 1))}
	refusedThenB(t, d, fmt.Sprintf("does not match its signed manifest: initrd vda1:/target-a.img has SHA-256 %s, vda1:/warmboot/a.manifest signs %s (the file changed after signing: restore it or re-sign)",
		short(sum(bad)), short(sum(targetData))))
}

func TestVerifyCmdlineChanged(t *testing.T) {
	parallel(t)
	refusedThenB(t, twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte(signed(signKey, "/vmlinuz-a", kernelData, "console=ttyS0 quiet")),
	}), `does not match its signed manifest: command line "`+cmdA+`" is not the signed "console=ttyS0 quiet" (vda1:/warmboot/a.manifest)`)
}

// A is signed by a key the image does not trust; B is signed with the
// real signify-openbsd, whose key the image does trust.
func TestVerifyUnknownKeyAndSignify(t *testing.T) {
	parallel(t)
	d := twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte(signed(stranger, "/vmlinuz-a", kernelData, cmdA)),
	})
	// Replace B's manifest with a signify-signed one.
	dir := t.TempDir()
	mf := filepath.Join(dir, "b.manifest")
	if err := os.WriteFile(mf, unsigned("/vmlinuz", kernelData, cmdB).Marshal(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("signify-openbsd", "-S", "-s", signifySec, "-m", mf).CombinedOutput(); err != nil {
		t.Fatalf("signify -S: %v\n%s", err, out)
	}
	d.Parts[0].Files["/warmboot/b.manifest"] = disk.File{Src: mf}
	d.Parts[0].Files["/warmboot/b.manifest.sig"] = disk.File{Src: mf + ".sig"}
	sk, _ := trust.ParseKey(signifyPub)
	vm := startVM(t, d, enforceImage, fast)
	expect(t, vm,
		`warmboot: refused "A 2": vda1:/warmboot/a.manifest: signed by a key this image does not trust: key `+trust.Fingerprint(stranger.Public().(ed25519.PublicKey))+" (trusted: ",
		"warmboot: verified: signed by "+sk.Fingerprint()+" (vda1:/warmboot/b.manifest)",
		marker(cmdB))
	finish(t, vm, true)
}

func TestVerifyMissing(t *testing.T) {
	parallel(t)
	refusedThenB(t, twoEntries(nil),
		"no signed manifest names this kernel: kernel vda1:/vmlinuz-a (looked in vda1:/warmboot/, vda1:/boot/warmboot/; sign the entry with warmsign sign)")
}

func TestVerifyTruncated(t *testing.T) {
	parallel(t)
	good := signed(signKey, "/vmlinuz-a", kernelData, cmdA)
	refusedThenB(t, twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte(good[:len(good)-30]),
	}), "vda1:/warmboot/a.manifest: malformed manifest: line 5: file does not end in a newline (truncated?)")
}

func TestVerifyGarbage(t *testing.T) {
	parallel(t)
	refusedThenB(t, twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte("\x89PNG\r\n\x1a\n garbage"),
	}), `vda1:/warmboot/a.manifest: malformed manifest: line 1: want "warmboot-manifest v1"`)
}

// Under warn, an unverified entry boots with a loud warning.
func TestVerifyWarnPolicy(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(nil), warnImage, fast)
	expect(t, vm,
		"warmboot: policy warn, command line edits refuse",
		`warmboot: warning: "A 2" is not verified: no signed manifest names this kernel: kernel vda1:/vmlinuz-a`,
		"; booting it anyway (policy warn)",
		`warmboot: booting "A 2"`,
		marker(cmdA))
	finish(t, vm, true)
}

// Without keys (policy off) anything boots, and nothing is checked.
func TestVerifyOff(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(map[string][]byte{"/warmboot/a.manifest": []byte("garbage")}), image, fast)
	expect(t, vm,
		"warmboot: policy off: entries are not verified",
		`warmboot: booting "A 2"`,
		marker(cmdA))
	finish(t, vm, true)
}

// Under enforce, the menu refuses to edit a signed command line.
func TestVerifyEditRefused(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte(signed(signKey, "/vmlinuz-a", kernelData, cmdA)),
	}), enforceImage, "warmboot.timeout=60 warmboot.wait=3")
	expect(t, vm, "(editing disabled: policy enforce: the signature covers the command line)", "(any key stops the countdown)")
	vm.Console.Send("e")
	expect(t, vm, "Editing is disabled: policy enforce: the signature covers the command line.")
	vm.Console.Send("\r")
	expect(t, vm, `warmboot: booting "A 2"`, marker(cmdA))
	finish(t, vm, true)
}

// A kernel in lockdown refuses to kexec a kernel it cannot verify, even
// when warmboot's own policy is off; warmboot says why in plain words and
// does not fall back to kexec_load (which lockdown forbids too). The
// Debian kernel is signed, but by Debian's Secure Boot key, which the
// kernel trusts only through the UEFI db (the platform keyring), and
// SeaBIOS has none: so here every entry is refused.
func TestLockdownRefusesUnverifiable(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(nil), image, fast+" lockdown=integrity")
	expect(t, vm,
		"warmboot: kernel lockdown (integrity): the kernel kexecs only kernels it can verify the signature of",
		`warmboot: cannot boot "A 2": loading /vmlinuz-a: kexec_file_load(kernel=`,
		") = operation not permitted (the running kernel is locked down (integrity) and only kexecs kernels whose signature it can verify with a key in its keyrings",
		"warmboot: nothing could be booted:")
	shellWorks(t, vm)
}

// With edits allowed as unsigned, an edited command line boots, the
// kernel and initrd still verified, and says so.
func TestVerifyEditUnsigned(t *testing.T) {
	parallel(t)
	vm := startVM(t, twoEntries(map[string][]byte{
		"/warmboot/a.manifest": []byte(signed(signKey, "/vmlinuz-a", kernelData, cmdA)),
	}), editsImage, "warmboot.timeout=60 warmboot.wait=3")
	expect(t, vm, "warmboot: policy enforce, command line edits unsigned", "(any key stops the countdown)")
	vm.Console.Send("e")
	expect(t, vm, `Edit the command line of "A 2"`)
	vm.Console.Send(" edited=1\r")
	expect(t, vm,
		"warmboot: booting an edited command line that no one signed (policy allows edits); kernel and initrds are signed by "+trust.Fingerprint(signKey.Public().(ed25519.PublicKey)),
		`warmboot: booting "A 2"`,
		marker(cmdA+" edited=1"))
	finish(t, vm, true)
}
