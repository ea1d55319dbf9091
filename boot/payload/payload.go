// Package payload reads the warmboot image inside a payload kernel: a
// bzImage built by images/payload (make payload) with the initramfs
// embedded (CONFIG_INITRAMFS_SOURCE) and the whole compressed by zstd.
//
// warmswap re-enters the payload and checks targets against the keys the
// bootloader will apply, so it reads them from the payload itself, as it
// reads them from an initramfs file beside a distribution kernel. The
// kernel keeps no index of its built-in initramfs once its symbols are
// stripped, so the builder starts the embedded image with ConsoleArchive,
// a fixed archive, and Files finds it there.
package payload

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/u-root/pkg/cpio"
	"github.com/warmboot/warmboot/boot/initramfs"
	"github.com/warmboot/warmboot/boot/kexec"
)

// maxKernel bounds what a payload's kernel may decompress to (a payload's
// is about 20 MiB; the fuzz target lowers it).
var maxKernel int64 = 256 << 20

// ErrNotPayload says a file is not a payload built by make payload.
var ErrNotPayload = errors.New("not a warmboot payload")

// ConsoleArchive is a newc archive of /dev and /dev/console (char 5:1),
// the first thing in a payload's initramfs: the kernel opens /dev/console
// for init before anything mounts devtmpfs (a modular kernel's default
// built-in initramfs has it; a payload's replaces that one). Its bytes are
// fixed, so it also marks where the image starts.
func ConsoleArchive() []byte {
	var buf bytes.Buffer
	w := cpio.Newc.Writer(&buf)
	if err := cpio.WriteRecords(w, []cpio.Record{cpio.Directory("dev", 0o755), cpio.CharDev("dev/console", 0o600, 5, 1)}); err != nil {
		panic(err) // a bytes.Buffer does not fail
	}
	if err := cpio.WriteTrailer(w); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Files returns the regular files of the initramfs inside the payload
// kernel bz whose names keep accepts.
func Files(bz []byte, keep func(name string) bool) (initramfs.Files, error) {
	kernel, err := Decompress(bz)
	if err != nil {
		return nil, err
	}
	i := bytes.Index(kernel, ConsoleArchive())
	if i < 0 {
		return nil, fmt.Errorf("%w: its kernel holds no warmboot initramfs (build it with make payload)", ErrNotPayload)
	}
	return initramfs.ReadPlain(kernel[i:], keep)
}

// Decompress returns the kernel inside a bzImage compressed with zstd
// (the x86 boot protocol's payload_offset and payload_length, from the
// start of the protected-mode code).
func Decompress(bz []byte) ([]byte, error) {
	// The checks kexec makes (boot protocol 2.12 or later, which has
	// the payload fields; not truncated), then the payload's place.
	if err := kexec.CheckBzImage(bz, int64(len(bz))); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotPayload, err)
	}
	start := kexec.SetupSize(bz)
	off, n := int64(binary.LittleEndian.Uint32(bz[0x248:])), int64(binary.LittleEndian.Uint32(bz[0x24c:]))
	if start+off+n > int64(len(bz)) {
		return nil, fmt.Errorf("%w: its compressed kernel (%d bytes at %d) runs past the end of the file (%d bytes)", ErrNotPayload, n, start+off, len(bz))
	}
	data := bz[start+off : start+off+n]
	if !bytes.HasPrefix(data, []byte{0x28, 0xb5, 0x2f, 0xfd}) {
		return nil, fmt.Errorf("%w: its kernel is not compressed with zstd (payload.config sets CONFIG_KERNEL_ZSTD)", ErrNotPayload)
	}
	// The kernel's build appends the decompressed size, 4 bytes, to the
	// zstd frame (scripts/Makefile.lib, size_append).
	if len(data) < 8 {
		return nil, fmt.Errorf("%w: its compressed kernel is %d bytes", ErrNotPayload, len(data))
	}
	size := int64(binary.LittleEndian.Uint32(data[len(data)-4:]))
	if size > maxKernel {
		return nil, fmt.Errorf("%w: its kernel decompresses to %d MiB, more than %d MiB", ErrNotPayload, size>>20, maxKernel>>20)
	}
	zr, err := zstd.NewReader(bytes.NewReader(data[:len(data)-4]), zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(uint64(maxKernel)))
	if err != nil {
		return nil, err
	}
	defer zr.Close()
	out, err := io.ReadAll(io.LimitReader(zr, size+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing the kernel: %w", err)
	}
	if int64(len(out)) != size {
		return nil, fmt.Errorf("%w: its kernel decompresses to %d bytes, not the %d its size field says", ErrNotPayload, len(out), size)
	}
	return out, nil
}
