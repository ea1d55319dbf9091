package installed

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/warmboot/warmboot/boot/handoff"
	"github.com/warmboot/warmboot/boot/payload"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/internal/testtool"
)

// host writes files (path under Dir → content) under a new root.
func host(t *testing.T, files map[string][]byte) string {
	t.Helper()
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, Dir), 0o755); err != nil {
		t.Fatal(err)
	}
	for n, data := range files {
		if err := os.WriteFile(filepath.Join(root, Dir, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestFind(t *testing.T) {
	x := []byte("x")
	for _, tc := range []struct {
		name  string
		files map[string][]byte
		want  Image
		err   string
	}{
		{"vmlinuz and initramfs", map[string][]byte{"vmlinuz": x, "initramfs.cpio": x, "cmdline": []byte(" warmboot.wait=3\n")},
			Image{Kernel: Dir + "/vmlinuz", Initrd: Dir + "/initramfs.cpio", Cmdline: "warmboot.wait=3"}, ""},
		{"zstd first", map[string][]byte{"vmlinuz": x, "initramfs.cpio": x, "initramfs.cpio.zst": x},
			Image{Kernel: Dir + "/vmlinuz", Initrd: Dir + "/initramfs.cpio.zst"}, ""},
		{"payload before vmlinuz", map[string][]byte{"vmlinuz": x, "initramfs.cpio": x, "warmboot.bzImage": x, "cmdline": []byte("quiet")},
			Image{Kernel: Dir + "/warmboot.bzImage", Cmdline: "quiet"}, ""},
		{"efi payload", map[string][]byte{"warmboot.efi": x}, Image{Kernel: Dir + "/warmboot.efi"}, ""},
		{"bzImage before efi", map[string][]byte{"warmboot.efi": x, "warmboot.bzImage": x}, Image{Kernel: Dir + "/warmboot.bzImage"}, ""},
		{"nothing", map[string][]byte{"cmdline": []byte("quiet")}, Image{},
			"no warmboot image: no payload (warmboot.bzImage, warmboot.efi) and no /boot/warmboot/vmlinuz: no such file or directory; install one (README: Installing on a Debian/systemd host)"},
		{"no initramfs", map[string][]byte{"vmlinuz": x}, Image{},
			"no warmboot image: neither /boot/warmboot/initramfs.cpio.zst nor /boot/warmboot/initramfs.cpio exists; install it (README: Installing on a Debian/systemd host)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Find(host(t, tc.files), Dir)
			if tc.err != "" {
				if !errors.Is(err, ErrNoImage) || err.Error() != tc.err {
					t.Fatalf("Find = %+v, %v; want ErrNoImage: %s", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Find (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageString(t *testing.T) {
	for _, tc := range []struct {
		im   Image
		want string
	}{
		{Image{Kernel: Dir + "/warmboot.efi"}, "payload /boot/warmboot/warmboot.efi"},
		{Image{Kernel: Dir + "/vmlinuz", Initrd: Dir + "/initramfs.cpio"}, "/boot/warmboot/vmlinuz, /boot/warmboot/initramfs.cpio"},
	} {
		if got := tc.im.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.im, got, tc.want)
		}
	}
}

// image is an initramfs whose trust is policy warn with one key.
func image(t *testing.T) []byte {
	t.Helper()
	pub, _, err := trust.Generate()
	if err != nil {
		t.Fatal(err)
	}
	base, err := handoff.Segment(map[string][]byte{"/init": []byte("warmboot")})
	if err != nil {
		t.Fatal(err)
	}
	archive, _, err := trust.Archive(trust.Warn, trust.EditsRefuse, []trust.KeyFile{{Name: "k.pub", Data: trust.MarshalPublic(pub, "test")}})
	if err != nil {
		t.Fatal(err)
	}
	return append(base, archive...)
}

// The trust is read from the initramfs beside vmlinuz, or from the image
// inside a payload kernel; the file read is returned and named in errors.
func TestTrust(t *testing.T) {
	img := image(t)
	kernel := append([]byte("kernel code"), payload.ConsoleArchive()...)
	kernel = append(kernel, img...)
	kernel = append(kernel, "kernel data"...)
	bz := testtool.ZstdBzImage(kernel)
	cases := map[string]map[string][]byte{
		Dir + "/initramfs.cpio": {"vmlinuz": testtool.BzImage(4096), "initramfs.cpio": img},
	}
	for _, n := range PayloadFiles {
		cases[Dir+"/"+n] = map[string][]byte{n: bz}
	}
	for file, files := range cases {
		tr, got, err := Trust(host(t, files), Dir)
		if err != nil || got != file || tr.Policy != trust.Warn || len(tr.Keys) != 1 || tr.Keys[0].Comment != "test" {
			t.Errorf("Trust with %s = %v, %q, %v; want policy warn with the key, from %s", file, tr, got, err, file)
		}
	}

	// A file there that is not a payload is said, not booted blind.
	root := host(t, map[string][]byte{PayloadFiles[0]: testtool.BzImage(8192)})
	if _, got, err := Trust(root, Dir); err == nil || got != Dir+"/"+PayloadFiles[0] || !strings.HasPrefix(err.Error(), Dir+"/"+PayloadFiles[0]+": ") || !strings.Contains(err.Error(), "not a warmboot payload") {
		t.Errorf("Trust with a bzImage without an image = %q, %v; want an error naming it", got, err)
	}
	// No image: ErrNoImage, and no file read.
	if _, got, err := Trust(t.TempDir(), Dir); !errors.Is(err, ErrNoImage) || got != "" {
		t.Errorf("Trust with nothing installed = %q, %v; want ErrNoImage", got, err)
	}
}
