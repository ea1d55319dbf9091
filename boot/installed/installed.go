package installed

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/warmboot/warmboot/boot/initramfs"
	"github.com/warmboot/warmboot/boot/payload"
	"github.com/warmboot/warmboot/boot/trust"
)

// Dir is where the image is installed on a host.
const Dir = "/boot/warmboot"

// PayloadFiles are the payload's names in the image's directory, in the
// order they are looked for: the kernel with the image inside (make
// payload), re-entered alone; as an EFI program it is the same kernel
// (signed, what a locked-down kernel under Secure Boot will load).
var PayloadFiles = []string{"warmboot.bzImage", "warmboot.efi"}

// Image is an installed warmboot image. Paths are as the host names them
// (under Find's dir, not prefixed with its root).
type Image struct {
	// Kernel is the payload, or vmlinuz.
	Kernel string
	// Initrd is initramfs.cpio.zst or initramfs.cpio beside vmlinuz; ""
	// for the payload, whose image is inside its kernel.
	Initrd string
	// Cmdline is the content of dir/cmdline, trimmed: the command line
	// the image is booted with ("" without the file).
	Cmdline string
}

// Find finds the image in dir (Dir on a host) under root: the payload
// (PayloadFiles), else vmlinuz with initramfs.cpio.zst or
// initramfs.cpio; and the optional cmdline file. Without them the error
// is ErrNoImage, saying what is missing and how to install it.
func Find(root, dir string) (Image, error) {
	at := func(p string) string { return filepath.Join(root, p) }
	var im Image
	if b, err := os.ReadFile(at(path.Join(dir, "cmdline"))); err == nil {
		im.Cmdline = strings.TrimSpace(string(b))
	}
	for _, n := range PayloadFiles {
		if _, err := os.Stat(at(path.Join(dir, n))); err == nil {
			im.Kernel = path.Join(dir, n)
			return im, nil
		}
	}
	kernel := path.Join(dir, "vmlinuz")
	if _, err := os.Stat(at(kernel)); err != nil {
		return Image{}, fmt.Errorf("%w: no payload (%s) and no %s: %v; install one (README: Installing on a Debian/systemd host)", ErrNoImage, strings.Join(PayloadFiles, ", "), kernel, unwrapPath(err))
	}
	for _, n := range []string{"initramfs.cpio.zst", "initramfs.cpio"} {
		if _, err := os.Stat(at(path.Join(dir, n))); err == nil {
			im.Kernel, im.Initrd = kernel, path.Join(dir, n)
			return im, nil
		}
	}
	return Image{}, fmt.Errorf("%w: neither %s/initramfs.cpio.zst nor %s/initramfs.cpio exists; install it (README: Installing on a Debian/systemd host)", ErrNoImage, dir, dir)
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// String names the image's files for messages: "payload
// /boot/warmboot/warmboot.bzImage", or the kernel and the initramfs.
func (im Image) String() string {
	if im.Initrd == "" {
		return "payload " + im.Kernel
	}
	return im.Kernel + ", " + im.Initrd
}

// Trust reads the policy and keys baked into the image (under root), as
// the booted image reads them: the image, and so its trust, is the
// initramfs file, or for a payload the initramfs inside the kernel. It
// returns the file it read (as the host names it); errors name it.
func (im Image) Trust(root string) (trust.Trust, string, error) {
	c, img, err := im.Read(root)
	return c.Trust, img, err
}

// Contents are what the tools on a host need to know of an installed
// image: the trust it enforces and the records it reads.
type Contents struct {
	Trust   trust.Trust
	Records Records
	// File is the file read (the initramfs, or the payload's kernel),
	// whole, for staging it without reading it again.
	File []byte
}

// Read reads the image's trust and records (RecordsFile) in one read of
// the file, as Trust does; an image without a records file reads
// Records{} (it was built before images said).
func (im Image) Read(root string) (Contents, string, error) {
	img := im.Initrd
	if img == "" {
		img = im.Kernel
	}
	c, err := read(filepath.Join(root, img), im.Initrd == "")
	if err != nil {
		return Contents{}, img, fmt.Errorf("%s: %w", img, err)
	}
	return c, img, nil
}

// read reads the trust archive and the records file in the initramfs
// file img, or in the one inside the payload kernel img.
func read(img string, inPayload bool) (Contents, error) {
	data, err := os.ReadFile(img)
	if err != nil {
		return Contents{}, err
	}
	keep := func(n string) bool { return strings.HasPrefix(n, trust.Dir+"/") || n == RecordsFile }
	var files initramfs.Files
	if inPayload {
		files, err = payload.Files(data, keep)
	} else {
		files, err = initramfs.Read(data, keep)
	}
	if err != nil {
		return Contents{}, err
	}
	c := Contents{File: data}
	if c.Trust, err = trust.Load(files, trust.Dir); err != nil {
		return Contents{}, err
	}
	if b, err := fs.ReadFile(files, RecordsFile); err == nil {
		if c.Records, err = ParseRecords(b); err != nil {
			return Contents{}, fmt.Errorf("/%s: %w", RecordsFile, err)
		}
	}
	return c, nil
}

// Trust reads the policy and keys of the image installed in dir under
// root (Find, then Image.Trust), as warmswap and the booted image read
// them. It also returns the image file it read ("" when Find failed).
func Trust(root, dir string) (trust.Trust, string, error) {
	im, err := Find(root, dir)
	if err != nil {
		return trust.Trust{}, "", err
	}
	return im.Trust(root)
}
