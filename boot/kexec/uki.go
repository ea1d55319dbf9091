package kexec

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/warmboot/warmboot/boot/bls"
	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/uki"
)

// UKIImage is what a unified kernel image entry staged besides its kernel
// and initramfs: the image and its add-ons as read (sealed memfds, what
// verification hashed and measurement reads again), and the sections the
// kernel, initramfs and command line were cut from.
type UKIImage struct {
	File *os.File
	Size int64
	// Sections are those of the booted profile.
	Sections map[string]uki.Section
	Addons   []Addon
	// Cmdline is the command line the image and its add-ons compose,
	// what booted unless the user edited it.
	Cmdline string
	// Uname is the image's .uname, empty without one.
	Uname string
	// KernelSigned says the kernel inside (.linux) carries an
	// Authenticode signature, which a locked-down kernel needs to kexec
	// it.
	KernelSigned bool
}

// Addon is one staged add-on.
type Addon struct {
	Path   string
	File   *os.File
	Size   int64
	SHA256 [32]byte
	Sums   Sums
	UKI    *uki.UKI
	// Cmdline is its command line (cleaned), empty without one.
	Cmdline string
}

func (u *UKIImage) close() error {
	err := u.File.Close()
	for _, a := range u.Addons {
		err = errors.Join(err, a.File.Close())
	}
	return err
}

// stageUKI reads e's image and add-ons, each once into a sealed memfd
// hashed on the way, and composes the kernel, initramfs and command line
// from those bytes as sd-stub would: kernel .linux; initramfs the
// add-ons' .ucode (last first), .ucode, .initrd, then the add-ons'
// .initrd; command line .cmdline then the add-ons' (unless edited, when
// cmdline is the user's). Only the memfds' bytes are used after the read.
func stageUKI(e entry.Entry, cmdline string, o stageOpts) (_ *Image, err error) {
	ferr := func(p string, err error) error { return &FileError{Entry: e, Role: "UKI", Path: p, Err: err} }
	f, n, sums, err := readInto("UKI", e, e.Kernel, nil, bound(uki.MaxSize, o.free()), o)
	if err != nil {
		return nil, err
	}
	ui := &UKIImage{File: f, Size: n}
	im := &Image{Entry: e, UKI: ui, KernelSums: sums}
	copy(im.KernelSHA256[:], sums[crypto.SHA256])
	defer func() {
		if err != nil {
			im.Close()
		}
	}()
	u, err := uki.Open(f, n)
	if err != nil {
		return nil, ferr(e.Kernel, err)
	}
	if ui.Sections, err = u.Sections(e.UKI.Profile); err != nil {
		return nil, ferr(e.Kernel, fmt.Errorf("%w (the image changed since it was listed: list the entries again)", err))
	}
	if p, ok := ui.Sections[uki.Profile]; ok {
		b, err := p.Read(f, uki.MaxText)
		if err != nil {
			return nil, ferr(e.Kernel, err)
		}
		if m, err := uki.ParseOSRelease(b); err != nil || m["ID"] != e.UKI.ProfileID {
			return nil, ferr(e.Kernel, fmt.Errorf("profile %d is not %q as listed (the image changed since it was listed: list the entries again)", e.UKI.Profile, e.UKI.ProfileID))
		}
	}
	if s, ok := ui.Sections[uki.Uname]; ok {
		if ui.Uname, err = uki.Text(f, s); err != nil {
			return nil, ferr(e.Kernel, err)
		}
		ui.Uname = strings.TrimSpace(ui.Uname)
	}
	var cmdlines []string
	if s, ok := ui.Sections[uki.Cmdline]; ok {
		c, err := uki.Text(f, s)
		if err != nil {
			return nil, ferr(e.Kernel, err)
		}
		cmdlines = append(cmdlines, uki.CleanCmdline(c))
	}
	var addonBytes int64
	for _, p := range e.UKI.Addons {
		// Add-ons together are bounded as initrds are.
		a, err := stageAddon(e, p, ui.Uname, MaxInitrd-addonBytes, o)
		if err != nil {
			return nil, err
		}
		addonBytes += a.Size
		ui.Addons = append(ui.Addons, a)
		if a.Cmdline != "" {
			cmdlines = append(cmdlines, a.Cmdline)
		}
	}
	ui.Cmdline = strings.Join(slices.DeleteFunc(cmdlines, func(s string) bool { return s == "" }), " ")
	im.Cmdline = ui.Cmdline
	if o.edited {
		im.Cmdline = cmdline
	}

	linux, ok := ui.Sections[uki.Linux]
	if !ok {
		return nil, ferr(e.Kernel, fmt.Errorf("no %s section: it carries no kernel", uki.Linux))
	}
	if linux.Size > MaxKernel {
		return nil, ferr(e.Kernel, fmt.Errorf("its kernel is larger than %d MiB", MaxKernel>>20))
	}
	if im.Kernel, err = copySection("kernel", f, linux); err != nil {
		return nil, err
	}
	im.KernelSize = linux.Size
	if err := sys.Seal(im.Kernel); err != nil {
		return nil, err
	}
	ui.KernelSigned = uki.Signed(im.Kernel, linux.Size)
	hdr := make([]byte, hdrEnd)
	m, _ := im.Kernel.ReadAt(hdr, 0)
	if err := CheckBzImage(hdr[:m], linux.Size); err != nil {
		return nil, ferr(e.Kernel, fmt.Errorf("section %s: %w", uki.Linux, err))
	}

	type part struct {
		r io.ReaderAt
		s uki.Section
	}
	var parts []part
	for i := len(ui.Addons) - 1; i >= 0; i-- {
		if s, ok := ui.Addons[i].UKI.Base[uki.Ucode]; ok {
			parts = append(parts, part{ui.Addons[i].File, s})
		}
	}
	for _, name := range []string{uki.Ucode, uki.Initrd} {
		if s, ok := ui.Sections[name]; ok {
			parts = append(parts, part{f, s})
		}
	}
	for _, a := range ui.Addons {
		if s, ok := a.UKI.Base[uki.Initrd]; ok {
			parts = append(parts, part{a.File, s})
		}
	}
	for _, p := range parts {
		if p.s.Size == 0 {
			continue
		}
		if im.InitrdSize+p.s.Size > MaxInitrd {
			return nil, ferr(e.Kernel, fmt.Errorf("its initramfs is larger than %d MiB", MaxInitrd>>20))
		}
		if im.Initrd == nil {
			if im.Initrd, err = sys.MemfdCreate("initrd"); err != nil {
				return nil, err
			}
		}
		if _, err := io.Copy(im.Initrd, p.s.Reader(p.r)); err != nil {
			return nil, fmt.Errorf("staging the initramfs of %s: %w", e.At(e.Kernel), err)
		}
		im.InitrdSize += p.s.Size
		if pad := (4 - p.s.Size%4) % 4; pad > 0 {
			if _, err := im.Initrd.Write(make([]byte, pad)); err != nil {
				return nil, fmt.Errorf("staging the initramfs of %s: %w", e.At(e.Kernel), err)
			}
			im.InitrdSize += pad
		}
	}
	return im, nil
}

// stageAddon reads add-on p into a sealed memfd and checks it as sd-stub
// does: no kernel, and a .uname, if it has one, that is the image's.
func stageAddon(e entry.Entry, p, uname string, most int64, o stageOpts) (Addon, error) {
	ferr := func(err error) error { return &FileError{Entry: e, Role: "add-on", Path: p, Err: err} }
	f, n, sums, err := readInto("add-on", e, p, nil, limit{n: min(most, uki.MaxSize)}, o)
	if err != nil {
		return Addon{}, err
	}
	a := Addon{Path: p, File: f, Size: n, Sums: sums}
	copy(a.SHA256[:], sums[crypto.SHA256])
	fail := func(err error) (Addon, error) {
		f.Close()
		return Addon{}, ferr(err)
	}
	if a.UKI, err = uki.Open(f, n); err != nil {
		return fail(err)
	}
	if a.Cmdline, err = bls.Addon(a.UKI, f); err != nil {
		return fail(err)
	}
	if s, ok := a.UKI.Base[uki.Uname]; ok && uname != "" {
		au, err := uki.Text(f, s)
		if err != nil {
			return fail(err)
		}
		if strings.TrimSpace(au) != uname {
			return fail(fmt.Errorf("it is for kernel %s, the image carries %s (it changed since the entries were listed: list them again)", strings.TrimSpace(au), uname))
		}
	}
	return a, nil
}

// copySection copies s of r into a new memfd.
func copySection(name string, r io.ReaderAt, s uki.Section) (*os.File, error) {
	dst, err := sys.MemfdCreate(name)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(dst, s.Reader(r)); err != nil {
		dst.Close()
		return nil, fmt.Errorf("staging %s: %w", name, err)
	}
	return dst, nil
}

// BootsDigests are the digests besides the kernel's an entry is known
// by (state.EntryBoots), as Digests gives them: the initrds', or a
// unified kernel image's add-ons'.
func (im *Image) BootsDigests() [][32]byte {
	if im.UKI == nil {
		return im.InitrdSHA256s
	}
	var out [][32]byte
	for _, a := range im.UKI.Addons {
		out = append(out, a.SHA256)
	}
	return out
}
