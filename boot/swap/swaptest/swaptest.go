// Package swaptest writes a running system for warmswap's tests: a root
// with mounts, proc files, boot entries and an installed warmboot image.
package swaptest

import (
	"crypto/ed25519"
	"crypto/sha256"
	"os"
	"path/filepath"
	"testing"

	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/manifest"
	"github.com/warmboot/warmboot/boot/nextboot"
	"github.com/warmboot/warmboot/boot/running"
	"github.com/warmboot/warmboot/boot/state"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

// CmdA is the command line entry "a" is signed with.
const CmdA = "root=/dev/vda2 quiet entry=a"

// System writes a running system under a temporary root: mounts, proc
// files, two BLS entries (a signed, b not), and a warmboot image whose
// trust enforces the key that signed a.
func System(t *testing.T, policy string) (root string) {
	t.Helper()
	root = t.TempDir()
	kernel := testtool.BzImage(8192)
	var pub ed25519.PublicKey
	var priv ed25519.PrivateKey
	initrd, err := handoff.Segment(map[string][]byte{"/init": []byte("target")})
	if err != nil {
		t.Fatal(err)
	}
	pub, priv, err = trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	// The image's records file, as images/mkimage writes it.
	base, err := handoff.Segment(map[string][]byte{"/init": []byte("warmboot"), "/" + installed.RecordsFile: installed.Current.Marshal()})
	if err != nil {
		t.Fatal(err)
	}
	p := trust.Enforce
	if policy != "" {
		if p, err = trust.ParsePolicy(policy); err != nil {
			t.Fatal(err)
		}
	}
	archive, _, err := trust.Archive(p, trust.EditsRefuse, []trust.KeyFile{{Name: "k.pub", Data: trust.MarshalPublic(pub, "test")}})
	if err != nil {
		t.Fatal(err)
	}
	img := append(base, archive...) // base is a segment: a multiple of 4 bytes
	m := manifest.Manifest{Kernel: manifest.File{Path: "/boot/vmlinuz", SHA256: sha256.Sum256(kernel)},
		Initrds: []manifest.File{{Path: "/boot/initrd.img", SHA256: sha256.Sum256(initrd)}}, Cmdline: CmdA}
	files := map[string][]byte{
		"proc/self/mountinfo":                 []byte("22 1 254:2 / / rw,relatime - ext4 /dev/vda2 rw\n23 22 0:5 / /proc rw - proc proc rw\n"),
		"proc/sys/kernel/kexec_load_disabled": []byte("0\n"),
		"proc/cmdline":                        []byte("BOOT_IMAGE=/boot/vmlinuz console=tty0 console=ttyS0,115200 root=/dev/vda2 quiet warmboot.timeout=5\n"),
		"boot/vmlinuz":                        kernel,
		"boot/initrd.img":                     initrd,
		"boot/loader/entries/a.conf":          []byte("title A\nlinux /vmlinuz\ninitrd /initrd.img\noptions " + CmdA + "\n"),
		"boot/loader/entries/b.conf":          []byte("title B\nlinux /vmlinuz\noptions unsigned\n"),
		"boot/warmboot/a.manifest":            m.Sign(priv),
		"boot/warmboot/vmlinuz":               testtool.BzImage(4096),
		"boot/warmboot/initramfs.cpio":        img,
		"boot/warmboot/cmdline":               []byte("warmboot.wait=3\n"),
		// The system warmboot booted, started by the firmware (the
		// cold path is warmboot: package coldpath).
		"run/warmboot/booted.json": []byte(`{"version":2,"entry":"b","by":"warmboot","firmware":"warmboot"}`),
	}
	for name, data := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// Ref names entry id of the system under root as warmswap and the
// bootloader know it across boots: by its id and what it boots.
func Ref(t *testing.T, root, id string) *state.Ref {
	t.Helper()
	m, err := running.HostMenu(root)
	if err != nil {
		t.Fatal(err)
	}
	i := m.Find(id)
	if i < 0 {
		t.Fatalf("no entry %q", id)
	}
	return &state.Ref{ID: m.Entries[i].ID, Source: m.Entries[i].Source, Boots: nextboot.Boots(m, nil)(i)}
}
