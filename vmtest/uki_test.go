package vmtest

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/hugelgupf/vmtest/qemu"
	"github.com/warmboot/warmboot/boot/authenticode/actest"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/images/disk"
	"github.com/warmboot/warmboot/images/trustimg"
)

// ukifyRoot is the Debian 13 root holding ukify (images/ukify/mkukify.sh,
// WARMBOOT_UKIFY).
var ukifyRoot string

// ukify runs "ukify build" in the trixie root, as a distribution's
// kernel-install or mkosi would, with inputs (file name -> contents)
// beside it, and returns the image it wrote. args name inputs by their
// file names.
func ukify(t testing.TB, inputs map[string][]byte, args ...string) []byte {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("ukify runs in a chroot of the Debian 13 root: the VM tests need root")
	}
	dir, err := os.MkdirTemp(filepath.Join(ukifyRoot, "tmp"), "wb-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	for n, b := range inputs {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	in := "/tmp/" + filepath.Base(dir)
	cmd := exec.Command("chroot", append([]string{ukifyRoot, "sh", "-c", `cd "$0" && exec ukify build "$@" --output=out.efi`, in}, args...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ukify build %s: %v\n%s", strings.Join(args, " "), err, b)
	}
	out, err := os.ReadFile(filepath.Join(dir, "out.efi"))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// ukiSbat is the .sbat section ukify writes (the stub's and its own
// line), as "ukify inspect" reports it.
func ukiSbat(t testing.TB, img []byte) [32]byte {
	t.Helper()
	dir, err := os.MkdirTemp(filepath.Join(ukifyRoot, "tmp"), "wb-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.WriteFile(filepath.Join(dir, "x.efi"), img, 0o644)
	out, err := exec.Command("chroot", ukifyRoot, "ukify", "--json=short", "inspect", "/tmp/"+filepath.Base(dir)+"/x.efi").Output()
	if err != nil {
		t.Fatalf("ukify inspect: %v", err)
	}
	var secs map[string]struct{ SHA256 string }
	if err := json.Unmarshal(out, &secs); err != nil {
		t.Fatal(err)
	}
	var d [32]byte
	if b, err := hex.DecodeString(secs[".sbat"].SHA256); err != nil || len(b) != 32 {
		t.Fatalf("ukify inspect: no .sbat: %s", out)
	} else {
		copy(d[:], b)
	}
	return d
}

func utf16z(s string) []byte {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = binary.LittleEndian.AppendUint16(b, u)
	}
	return append(b, 0, 0)
}

func osrel(id, name string) []byte {
	return []byte(fmt.Sprintf("ID=%s\nPRETTY_NAME=\"%s\"\nVERSION_ID=1\n", id, name))
}

// flip returns b with one byte of the first occurrence of part changed.
func flip(t testing.TB, b, part []byte) []byte {
	t.Helper()
	i := bytes.Index(b, part)
	if i < 0 {
		t.Fatal("flip: part not found in the image")
	}
	out := bytes.Clone(b)
	out[i+len(part)/2] ^= 0x20
	return out
}

const (
	cmdUKIBase   = "console=ttyS0 quiet wbtest=uki-default"
	cmdUKIRescue = "console=ttyS0 quiet wbtest=uki-rescue"
	cmdAddon     = "wbaddon=yes"
)

// Unified kernel images built by ukify on an ESP, under enforce with
// manifests, on a TPM: three images with one byte flipped in .linux,
// .initrd and .cmdline after signing are refused; a two-profile image
// whose default profile's command line no manifest signs is refused for
// it; its rescue profile boots, with the global add-on's command line
// appended; and the TPM holds what the handed-over log says, PCR 11 as
// sd-stub would have left it (computed here from what ukify was given).
func TestUKI(t *testing.T) {
	parallel(t)
	addon := ukify(t, nil, "--stub=/usr/lib/systemd/boot/efi/addonx64.efi.stub", "--cmdline="+cmdAddon)
	in := map[string][]byte{"vmlinuz": kernelData, "target.img": targetData}
	files := map[string]disk.File{"/loader/addons/wb.addon.efi": {Data: addon}}
	sign := func(path string, img []byte, cmdline string) {
		m := manifest.Manifest{Kernel: manifest.File{Path: path, SHA256: sum(img)}, Addons: []manifest.File{{Path: "/loader/addons/wb.addon.efi", SHA256: sum(addon)}}, Cmdline: cmdline}
		files["/warmboot/"+strings.TrimSuffix(filepath.Base(path), ".efi")+".manifest"] = disk.File{Data: m.Sign(signKey)}
	}
	for i, part := range [][]byte{kernelData[len(kernelData)/2 : len(kernelData)/2+64], targetData[len(targetData)/2 : len(targetData)/2+64], []byte("wbtest=a")} {
		n := fmt.Sprintf("a%d", i+1)
		in["osrel"] = osrel("wb"+n, "A"+fmt.Sprint(i+1))
		img := ukify(t, in, "--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb", "--cmdline=console=ttyS0 quiet wbtest=a")
		path := "/EFI/Linux/" + n + ".efi"
		sign(path, img, "console=ttyS0 quiet wbtest=a "+cmdAddon)
		files[path] = disk.File{Data: flip(t, img, part)}
	}
	in["osrel"] = osrel("wbb", "B")
	profile := "ID=rescue\nTITLE=Rescue shell"
	in["rescue.efi"] = ukify(t, nil, "--profile="+profile, "--cmdline="+cmdUKIRescue)
	b := ukify(t, in, "--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb",
		"--cmdline="+cmdUKIBase, "--profile=ID=default\nTITLE=Default", "--join-profile=rescue.efi")
	files["/EFI/Linux/b.efi"] = disk.File{Data: b}
	sign("/EFI/Linux/b.efi", b, cmdUKIRescue+" "+cmdAddon)
	files["/loader/loader.conf"] = disk.File{Data: []byte("default a1.efi\ntimeout 0\n")}

	// What sd-stub measures for the rescue profile, from the inputs.
	sec := func(name string, data []byte) [][32]byte {
		return [][32]byte{sha256.Sum256(append([]byte(name), 0)), sha256.Sum256(data)}
	}
	var pcr11 [][32]byte
	for _, s := range [][][32]byte{
		sec(".linux", kernelData), sec(".osrel", in["osrel"]), sec(".cmdline", []byte(cmdUKIRescue)), sec(".initrd", targetData),
		sec(".uname", []byte("6.1-wb")), {sha256.Sum256([]byte(".sbat\x00")), ukiSbat(t, b)}, sec(".profile", []byte(profile)),
	} {
		pcr11 = append(pcr11, s...)
	}
	composed := cmdUKIRescue + " " + cmdAddon
	trustEvent := fmt.Sprintf("warmboot_trust: policy=enforce key=%s manifest=vda1:/warmboot/b.manifest cmdline=signed", trust.Fingerprint(signKey.Public().(ed25519.PublicKey)))
	want := fmt.Sprintf("WARMBOOT-TPM-OK events=%d pcr8=%s pcr9=%s pcr11=%s pcr12=%s", 2+2+len(pcr11)+2,
		extend(sha256.Sum256([]byte(composed)), sha256.Sum256([]byte(trustEvent))),
		extend(sum(b), sum(addon)),
		extend(pcr11...),
		extend(sha256.Sum256(utf16z("1")), sha256.Sum256(utf16z(cmdAddon))))

	dimg := buildDisk(t, disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "ESP", SizeMiB: 160, ESP: true, Files: files}}})
	vm := qemu.StartT(t, "vm", qemu.ArchAMD64,
		qemu.WithKernel(kernel),
		qemu.WithInitramfs(enforceImage),
		qemu.WithAppendKernel("console=ttyS0 quiet "+fast),
		qemu.WithVMTimeout(5*time.Minute),
		qemu.ArbitraryArgs(append([]string{"-no-reboot", "-drive", "file=" + dimg + ",if=virtio,format=raw"}, swtpmArgs(t)...)...),
	)
	for i := range 3 {
		expect(t, vm, fmt.Sprintf(`warmboot: refused "A%d 6.1-wb": does not match its signed manifest: unified kernel image vda1:/EFI/Linux/a%d.efi has SHA-256 `, i+1, i+1))
	}
	expect(t, vm,
		`warmboot: refused "B 6.1-wb (Default)": does not match its signed manifest: command line "`+cmdUKIBase+" "+cmdAddon+`" is not the signed`,
		"warmboot: measured the sections of vda1:/EFI/Linux/b.efi into PCR 11 as sd-stub does",
		"warmboot: verified: signed by "+trust.Fingerprint(signKey.Public().(ed25519.PublicKey))+" (vda1:/warmboot/b.manifest)",
		`warmboot: booting "B 6.1-wb (Rescue shell)"`,
		want,
		marker(composed))
	finish(t, vm, true)
}

// Authenticode: with a certificate in the image's trust and no
// manifests, an image sbsign'd by a stranger is refused and one signed
// with the trusted certificate boots.
func TestUKIAuthenticode(t *testing.T) {
	parallel(t)
	dir := t.TempDir()
	db := actest.New(t, dir, "warmboot test db", nil, false)
	stranger := actest.New(t, dir, "stranger", nil, false)
	base, err := os.ReadFile(strings.TrimSuffix(image, ".zst"))
	if err != nil {
		t.Fatal(err)
	}
	img, _, err := trustimg.Append(base, append(imageKeys, trust.KeyFile{Name: "db.crt", Data: db.PEM}), "enforce", "", "")
	if err != nil {
		t.Fatal(err)
	}
	imgFile := filepath.Join(dir, "warmboot-db.cpio")
	if err := os.WriteFile(imgFile, img, 0o644); err != nil {
		t.Fatal(err)
	}
	in := map[string][]byte{"vmlinuz": kernelData, "target.img": targetData, "osrel": osrel("wbc", "C")}
	c := ukify(t, in, "--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb", "--cmdline="+cmdA)
	in["osrel"] = osrel("wbd", "D")
	d := ukify(t, in, "--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb", "--cmdline="+cmdB)
	vm := startVM(t, disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "ESP", SizeMiB: 64, ESP: true, Files: map[string]disk.File{
		"/EFI/Linux/c.efi": {Data: stranger.Sign(t, c)},
		"/EFI/Linux/d.efi": {Data: db.Sign(t, d)},
	}}}}, imgFile, fast)
	expect(t, vm,
		`; unified kernel images: either, certificates: "warmboot test db", denied: 0`,
		`warmboot: refused "C 6.1-wb": no signed manifest names this kernel`,
		`vda1:/EFI/Linux/c.efi: signed by a certificate this image does not trust: "stranger"`,
		`warmboot: verified: signed by certificate "warmboot test db"`,
		`warmboot: booting "D 6.1-wb"`,
		marker(cmdB))
	finish(t, vm, true)
}

// Under UEFI Secure Boot the payload's kernel is locked down and kexecs
// only kernels it can verify: a UKI whose inner kernel is unsigned is
// refused with what to do, before the kernel is asked; one built around
// a kernel signed with the db key (ukify --sign-kernel would do the
// same) boots.
func TestUKISecureBoot(t *testing.T) {
	parallel(t)
	unsigned := filepath.Join(t.TempDir(), "unsigned-vmlinuz")
	unsign(t, kernel, unsigned)
	bare, err := os.ReadFile(unsigned)
	if err != nil {
		t.Fatal(err)
	}
	signedKernel, err := os.ReadFile(sbsign(t, kernel))
	if err != nil {
		t.Fatal(err)
	}
	in := map[string][]byte{"vmlinuz": bare, "target.img": targetData, "osrel": osrel("wba", "Unsigned inside")}
	u := ukify(t, in, "--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb", "--cmdline=console=ttyS0 quiet wbtest=uki-unsigned")
	in["vmlinuz"], in["osrel"] = signedKernel, osrel("wbb", "Signed inside")
	s := ukify(t, in, "--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb", "--cmdline=console=ttyS0 quiet wbtest=uki-signed")
	d := disk.Disk{Parts: []disk.FS{{Type: "vfat", Label: "ESP", SizeMiB: 64, ESP: true, Files: map[string]disk.File{
		"/EFI/BOOT/BOOTX64.EFI": {Src: sbsign(t, payload)},
		"/EFI/Linux/a.efi":      {Data: u},
		"/EFI/Linux/b.efi":      {Data: s},
		"/loader/loader.conf":   {Data: []byte("default a.efi\ntimeout 1\n")},
	}}}}
	vm := startFirmware(t, ovmfSecure, 5*time.Minute, false, "-drive", "file="+buildDisk(t, d)+",if=virtio,format=raw")
	vm.expect("secureboot: Secure boot enabled",
		"warmboot: starting",
		"the running kernel is locked down (integrity) and kexecs only a kernel it can verify, and the kernel inside this unified kernel image (.linux) is unsigned; build the image with a signed kernel (ukify build --sign-kernel",
		marker("console=ttyS0 quiet wbtest=uki-signed"))
	vm.wait()
}

// warmswap takes a UKI as it takes any entry: "warmswap -entry ID" checks
// it as the bootloader will (its manifest, on the files on disk), and the
// bootloader boots it from the handoff, from the image's own bytes. The
// image is a Type #2 entry on a root filesystem whose /boot is a
// directory (boot/EFI/Linux), as kernel-install's layout=uki writes it
// when $BOOT is /boot.
func TestUKISwap(t *testing.T) {
	parallel(t)
	swapSetup(t)
	const cmdline = "console=ttyS0 quiet wbtest=uki-swap"
	img := ukify(t, map[string][]byte{"vmlinuz": kernelData, "target.img": efiTarget, "osrel": osrel("wbswap", "Swap UKI")},
		"--linux=vmlinuz", "--initrd=target.img", "--os-release=@osrel", "--uname=6.1-wb", "--cmdline="+cmdline)
	m := manifest.Manifest{Kernel: manifest.File{Path: "/boot/EFI/Linux/swap+3.efi", SHA256: sum(img)}, Cmdline: cmdline}
	d, part := systemDisk(nil)
	root := &d.Parts[part-1]
	root.SizeMiB = 128
	root.Files["/boot/EFI/Linux/swap+3.efi"] = disk.File{Data: img}
	root.Files["/boot/warmboot/uki.manifest"] = disk.File{Data: m.Sign(signKey)}
	dimg := buildDisk(t, d)
	vm, _ := bootSystem(t, dimg, 4*time.Minute)
	vm.Console.Send("/usr/sbin/warmswap -entry swap.efi -grace 1s\r")
	expect(t, vm,
		"warmswap: check ok: verification: verified: signed by",
		`warmswap: plan: warmboot boots entry "swap.efi" ("Swap UKI 6.1-wb")`,
		"warmswap: kexec",
		`warmboot: booting "Swap UKI 6.1-wb" as the handoff asks; skipping the menu`,
		"warmboot: verified: signed by",
		"(vda1:/boot/warmboot/uki.manifest)",
		"boot counting: vda1:/boot/EFI/Linux/swap+3.efi is now swap+2-1.efi",
		"WARMBOOT-TARGET-BOOTED entry=swap.efi by=warmboot",
		marker(cmdline))
	finish(t, vm, true)
	checkClean(t, rootFS(t, dimg, d, part))
}
