package kexec

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/entry"
	"github.com/warmboot/warmboot/boot/internal/sys"
	"github.com/warmboot/warmboot/boot/safefs"
	"github.com/warmboot/warmboot/boot/sumcache"
	"github.com/warmboot/warmboot/boot/uki"
)

// MaxKernel and MaxInitrd bound what is read into memory.
const (
	MaxKernel = 256 << 20
	MaxInitrd = 1 << 30
)

// Image is an entry's kernel and initramfs, staged in sealed memfds.
type Image struct {
	Entry   entry.Entry
	Kernel  *os.File
	Initrd  *os.File // nil if the entry has no initrd
	Cmdline string
	// Bytes read, for the timeline.
	KernelSize, InitrdSize int64
	// SHA-256 of the kernel and of each initrd as read, before padding:
	// what verification checks (WithHashes with crypto.SHA256).
	KernelSHA256  [32]byte
	InitrdSHA256s [][32]byte
	// KernelSums and InitrdSums are every digest WithHashes asked for
	// (the TPM's banks, which measurement records), taken in the same
	// pass as the read.
	KernelSums Sums
	InitrdSums []Sums
	// InitrdParts locate each initrd in the initramfs memfd.
	InitrdParts []Part
	// UKI is set for a unified kernel image entry: Kernel and Initrd
	// were cut from it, KernelSHA256 and KernelSums are the image
	// file's, and InitrdSHA256s is empty.
	UKI *UKIImage

	sealed bool
}

// Sums are a file's digests by hash.
type Sums map[crypto.Hash][]byte

// StageOption tunes Stage.
type StageOption func(*stageOpts)

type stageOpts struct {
	hashes []crypto.Hash
	edited bool
	fetch  Fetcher
	// free is the memory staging may use (memFree); nil reads
	// /proc/meminfo.
	free func() int64
	// ctx ends a network entry's fetches early; nil is Background.
	ctx context.Context
	// read are files already read, by their path in the entry.
	read map[string][]byte
}

// WithRead stages the files in read (by their path in the entry, as
// Entry.Kernel names it) from memory instead of reading them again: a
// file its caller has just read whole, and checked (warmswap's read of
// the bootloader image for its trust).
func WithRead(read map[string][]byte) StageOption { return func(o *stageOpts) { o.read = read } }

// WithContext stops fetching a network entry's files when ctx ends (a
// background preload the user chose not to boot).
func WithContext(ctx context.Context) StageOption { return func(o *stageOpts) { o.ctx = ctx } }

// WithMemory bounds what is staged by free() bytes instead of the
// machine's MemAvailable.
func WithMemory(free func() int64) StageOption { return func(o *stageOpts) { o.free = free } }

// memFree is how much an entry may stage: three quarters of the memory
// the kernel says is available (the rest for the kexec'd kernel's
// decompression and the bootloader itself). A network server that sends
// an endless file is stopped there, not by the OOM killer. Unknown
// (no /proc/meminfo) is no bound but the files' own limits.
func memFree() int64 {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 1 << 62
	}
	return memAvailable(data) / 4 * 3
}

// memAvailable reads MemAvailable (kB) from /proc/meminfo's text, in
// bytes; unknown is no bound.
func memAvailable(meminfo []byte) int64 {
	for _, l := range strings.Split(string(meminfo), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil && kb > 0 {
				return kb << 10
			}
		}
	}
	return 1 << 62
}

// Fetcher fetches a network entry's files (entry.Net): a stream of at
// most limit bytes, failing past it (package netboot/fetch's Client).
type Fetcher interface {
	Open(ctx context.Context, u *url.URL, limit int64) (io.ReadCloser, int64, error)
}

// WithFetcher stages network entries with f. Without it a network entry
// is refused.
func WithFetcher(f Fetcher) StageOption { return func(o *stageOpts) { o.fetch = f } }

// WithEdited says cmdline is the user's edit. It matters for a unified
// kernel image, whose command line is otherwise the one its verified
// bytes compose (UKIImage.Cmdline), not the one it had when listed.
func WithEdited(edited bool) StageOption { return func(o *stageOpts) { o.edited = edited } }

// WithHashes hashes the kernel and each initrd with each of hs while
// reading them, in that one pass, into Image.KernelSums and InitrdSums
// (and, for crypto.SHA256, KernelSHA256 and InitrdSHA256s, for
// verification). Without it nothing is hashed: hashing costs as much as
// reading on a slow machine.
func WithHashes(hs ...crypto.Hash) StageOption {
	return func(o *stageOpts) {
		for _, h := range hs {
			if !slices.Contains(o.hashes, h) {
				o.hashes = append(o.hashes, h)
			}
		}
	}
}

// Part is where one file lies in a memfd.
type Part struct{ Offset, Size int64 }

// Seal appends extra (a cpio segment for the booted system, may be nil)
// after the initrds and seals the initramfs memfd: nothing can change the
// bytes after this. Load refuses an image that is not sealed.
func (im *Image) Seal(extra []byte) error {
	if im.sealed {
		return errors.New("image already sealed")
	}
	if len(extra) > 0 {
		if im.Initrd == nil {
			f, err := sys.MemfdCreate("initrd")
			if err != nil {
				return err
			}
			im.Initrd = f
		}
		if _, err := im.Initrd.Write(extra); err != nil {
			return fmt.Errorf("staging initramfs: %w", err)
		}
		im.InitrdSize += int64(len(extra))
	}
	if im.Initrd != nil {
		if err := sys.Seal(im.Initrd); err != nil {
			return err
		}
	}
	im.sealed = true
	return nil
}

// Close releases the memfds.
func (im *Image) Close() error {
	var err error
	if im.Kernel != nil {
		err = im.Kernel.Close()
	}
	if im.UKI != nil {
		err = errors.Join(err, im.UKI.close())
	}
	if im.Initrd != nil {
		err = errors.Join(err, im.Initrd.Close())
	}
	return err
}

// FileError is a problem with one file an entry names.
type FileError struct {
	Entry entry.Entry
	Role  string // "kernel" or "initrd"
	Path  string // as the entry names it
	Err   error
}

func (e *FileError) Error() string {
	where := e.Entry.At(e.Path)
	fix := "restore the file or fix the entry in " + e.Entry.Source.String()
	msg := e.Err.Error()
	if e.Entry.Net != nil {
		fix = "put the file on the server or fix " + e.Entry.Source.String()
		// The fetch error names the URL already.
		if u, err := url.Parse(e.Path); err == nil {
			msg = strings.Replace(msg, u.Redacted()+": ", "", 1)
		}
	}
	return fmt.Sprintf("%s %s: %s; %s", e.Role, where, msg, fix)
}

func (e *FileError) Unwrap() error { return e.Err }

// Stage reads e's kernel and initrds (resolved under e.Root) into memfds,
// hashing them as it reads and checking the kernel's header. The kernel's
// memfd is sealed at once; the initramfs is sealed by Image.Seal, after the
// caller has verified the hashes and perhaps appended a segment. cmdline
// replaces e.Cmdline when the user edited it.
func Stage(e entry.Entry, cmdline string, opts ...StageOption) (*Image, error) {
	var o stageOpts
	for _, opt := range opts {
		opt(&o)
	}
	if o.free == nil {
		o.free = memFree
	}
	if e.UKI != nil {
		return stageUKI(e, cmdline, o)
	}
	im := &Image{Entry: e, Cmdline: cmdline}
	free := o.free()
	k, n, sums, err := readInto("kernel", e, e.Kernel, nil, bound(MaxKernel, free), o)
	if err != nil {
		return nil, err
	}
	im.Kernel, im.KernelSize, im.KernelSums = k, n, sums
	copy(im.KernelSHA256[:], sums[crypto.SHA256])
	hdr := make([]byte, hdrEnd)
	m, _ := k.ReadAt(hdr, 0)
	if err := CheckBzImage(hdr[:m], n); err != nil {
		k.Close()
		return nil, &FileError{Entry: e, Role: "kernel", Path: e.Kernel, Err: err}
	}
	if len(e.Initrds) > 0 {
		for _, p := range e.Initrds {
			f, n, sums, err := readInto("initrd", e, p, im.Initrd, bound(MaxInitrd-im.InitrdSize, free-im.KernelSize-im.InitrdSize), o)
			if err != nil {
				im.Close()
				return nil, err
			}
			im.Initrd = f
			im.InitrdParts = append(im.InitrdParts, Part{Offset: im.InitrdSize, Size: n})
			im.InitrdSize += n
			var sum [32]byte
			copy(sum[:], sums[crypto.SHA256])
			im.InitrdSHA256s = append(im.InitrdSHA256s, sum)
			im.InitrdSums = append(im.InitrdSums, sums)
			// Pad to 4 bytes: the kernel's initramfs unpacker skips NULs
			// between concatenated archives.
			if pad := (4 - n%4) % 4; pad > 0 {
				if _, err := f.Write(make([]byte, pad)); err != nil {
					im.Close()
					return nil, fmt.Errorf("staging initrd: %w", err)
				}
				im.InitrdSize += pad
			}
		}
	}
	return im, nil
}

// limit is a read's limit: the file's own, or less when that is all the
// memory there is.
type limit struct {
	n      int64
	memory bool
}

func bound(most, free int64) limit {
	if free < most {
		return limit{n: max(free, 0), memory: true}
	}
	return limit{n: most}
}

func (l limit) tooLarge() error {
	if l.memory {
		return fmt.Errorf("larger than the %d MiB of memory free to stage it (a machine with more memory, or a smaller file)", l.n>>20)
	}
	return fmt.Errorf("larger than %d MiB", l.n>>20)
}

// readInto appends the file at p (under e.Root, or p's URL for a network
// entry) to dst, or to a new memfd when dst is nil (sealed if it is the
// kernel), refusing more than limit bytes. It returns the digests (by
// each of o.hashes) of exactly the bytes it wrote, nil when there are
// none to take.
func readInto(role string, e entry.Entry, p string, dst *os.File, lim limit, o stageOpts) (*os.File, int64, Sums, error) {
	var sum Sums
	hashes := o.hashes
	ferr := func(err error) error { return &FileError{Entry: e, Role: role, Path: p, Err: err} }
	var src io.ReadCloser
	if b, ok := o.read[p]; ok && e.Net == nil {
		src = io.NopCloser(bytes.NewReader(b))
	} else if e.Net != nil {
		// One byte more than the limit, so that the check below, which
		// says why, is the one that fires.
		r, err := fetchFile(o.ctx, e, p, lim.n+1, o.fetch)
		if err != nil {
			return nil, 0, sum, ferr(err)
		}
		src = r
	} else {
		f, _, err := openFile(role, e, p)
		if err != nil {
			return nil, 0, sum, err
		}
		src = f
	}
	defer src.Close()
	var err error
	fresh := dst == nil
	if fresh {
		if dst, err = sys.MemfdCreate(role); err != nil {
			return nil, 0, sum, err
		}
	}
	ws := []io.Writer{dst}
	hs := make([]hash.Hash, len(hashes))
	for i, c := range hashes {
		hs[i] = c.New()
		ws = append(ws, hs[i])
	}
	w := io.MultiWriter(ws...)
	n, err := io.Copy(w, io.LimitReader(src, lim.n+1))
	switch {
	case err != nil:
		err = ferr(fmt.Errorf("reading: %w", err))
	case n > lim.n:
		err = ferr(lim.tooLarge())
	case n == 0:
		err = ferr(errors.New("file is empty"))
	}
	if err == nil && fresh && role != "initrd" {
		err = sys.Seal(dst)
	}
	if err != nil {
		if fresh {
			dst.Close()
		}
		return nil, 0, sum, err
	}
	if len(hashes) > 0 {
		sum = Sums{}
		for i, c := range hashes {
			sum[c] = hs[i].Sum(nil)
		}
	}
	return dst, n, sum, nil
}

// Digests returns the SHA-256 of e's kernel and of each initrd as they
// are on disk, without staging them: for a running system checking what
// the bootloader will read again. A file whose version (sumcache) sums
// has seen is not read; one that is read is remembered there. The files
// are checked as Stage checks them (regular, not empty, within the
// limits, the kernel a bzImage); errors are *FileError.
//
// For a unified kernel image, kernel is the image file's digest and
// initrds are its add-ons' (what a manifest signs: verify.Digests).
func Digests(e entry.Entry, sums *sumcache.Cache) (kernel [32]byte, initrds [][32]byte, err error) {
	if e.UKI != nil {
		if kernel, _, err = digest("UKI", e, e.Kernel, uki.MaxSize, sums); err != nil {
			return kernel, nil, err
		}
		for _, p := range e.UKI.Addons {
			sum, _, err := digest("add-on", e, p, uki.MaxSize, sums)
			if err != nil {
				return kernel, nil, err
			}
			initrds = append(initrds, sum)
		}
		return kernel, initrds, nil
	}
	if kernel, _, err = digest("kernel", e, e.Kernel, MaxKernel, sums); err != nil {
		return kernel, nil, err
	}
	total := int64(0)
	for _, p := range e.Initrds {
		sum, n, err := digest("initrd", e, p, MaxInitrd-total, sums)
		if err != nil {
			return kernel, nil, err
		}
		initrds = append(initrds, sum)
		total += n + (4-n%4)%4 // padded, as Stage pads
	}
	return kernel, initrds, nil
}

func digest(role string, e entry.Entry, p string, limit int64, sums *sumcache.Cache) ([32]byte, int64, error) {
	var sum [32]byte
	ferr := func(err error) error { return &FileError{Entry: e, Role: role, Path: p, Err: err} }
	f, st, err := openFile(role, e, p)
	if err != nil {
		return sum, 0, err
	}
	defer f.Close()
	switch {
	case st.Size() == 0:
		return sum, 0, ferr(errors.New("file is empty"))
	case st.Size() > limit:
		return sum, 0, ferr(fmt.Errorf("larger than %d MiB", limit>>20))
	}
	if role == "kernel" {
		hdr := make([]byte, hdrEnd)
		m, _ := f.ReadAt(hdr, 0)
		if err := CheckBzImage(hdr[:m], st.Size()); err != nil {
			return sum, 0, ferr(err)
		}
	}
	if s, ok := sums.Lookup(st); ok {
		return s, st.Size(), nil
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(f, limit+1))
	switch {
	case err != nil:
		return sum, 0, ferr(fmt.Errorf("reading: %w", err))
	case n > limit:
		return sum, 0, ferr(fmt.Errorf("larger than %d MiB", limit>>20))
	}
	h.Sum(sum[:0])
	sums.Remember(f, st, sum)
	return sum, n, nil
}

// fetchFile opens a network entry's file p, a URL.
func fetchFile(ctx context.Context, e entry.Entry, p string, limit int64, f Fetcher) (io.ReadCloser, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if f == nil {
		return nil, errors.New("a network entry, and this command does not fetch from the network")
	}
	u, err := url.Parse(p)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("not a URL (%v)", err)
	}
	r, _, err := f.Open(ctx, u, limit)
	return r, err
}

// openFile opens e's file p (under e.Root) as a regular file: the checks
// staging and Digests share, their refusals *FileError.
func openFile(role string, e entry.Entry, p string) (*os.File, fs.FileInfo, error) {
	ferr := func(err error) error { return &FileError{Entry: e, Role: role, Path: p, Err: err} }
	f, err := safefs.OpenFile(e.Root, p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, ferr(errors.New("file does not exist"))
		}
		return nil, nil, ferr(err)
	}
	st, err := f.Stat()
	if err == nil && !st.Mode().IsRegular() {
		err = fmt.Errorf("not a regular file (%s)", st.Mode().Type())
	}
	if err != nil {
		f.Close()
		return nil, nil, ferr(err)
	}
	return f, st, nil
}
