package disk

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/warmboot/warmboot/boot/modload"
	"github.com/warmboot/warmboot/images/kmod"
)

// SystemModules are what the test system's initramfs loads to mount its
// root (the virtio disk and ext4), its watchdog, and vfat with the
// character sets Debian's kernel mounts it with (codepage 437, iocharset
// ascii, utf8), for an ESP.
var SystemModules = []string{"virtio_pci", "virtio_blk", "ext4", "i6300esb", "vfat", "nls_cp437", "nls_ascii", "nls_utf8"}

// GoBuild builds a command of this module as a static binary.
func GoBuild(ctx context.Context, moduleRoot, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w -buildid=", "-o", out, pkg)
	cmd.Dir = moduleRoot
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("building %s: %w: %s", pkg, err, b)
	}
	return nil
}

// SystemInitramfs writes the initramfs of the test system (images/system
// as /init, with the modules that mount its root, resolved from the
// kernel package extracted in kernelDir) as a gzip'd newc cpio, and the
// system binary to bin (the same program is the root's /sbin/init).
func SystemInitramfs(ctx context.Context, moduleRoot, kernelDir, out, bin string) error {
	if err := GoBuild(ctx, moduleRoot, "./images/system", bin); err != nil {
		return err
	}
	files, err := ModuleFiles(kernelDir, SystemModules...)
	if err != nil {
		return err
	}
	files["etc/wbsys-initramfs"] = nil
	if files["init"], err = os.ReadFile(bin); err != nil {
		return err
	}
	return writeCpioGz(out, files)
}

// ModuleFiles returns the named modules and their dependencies from the
// kernel package extracted in kernelDir, with the load order modload
// reads, as initramfs files.
func ModuleFiles(kernelDir string, names ...string) (map[string][]byte, error) {
	rels, _ := filepath.Glob(filepath.Join(kernelDir, "lib/modules/*"))
	if len(rels) != 1 {
		return nil, fmt.Errorf("want one kernel release under %s/lib/modules, found %d", kernelDir, len(rels))
	}
	tree, err := kmod.Open(rels[0])
	if err != nil {
		return nil, err
	}
	mods, err := tree.Resolve(names...)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	var list []string
	for _, m := range mods {
		data, err := os.ReadFile(filepath.Join(tree.Dir, m.Path))
		if err != nil {
			return nil, err
		}
		p := "lib/modules/" + tree.Release + "/" + m.Path
		files[p] = data
		list = append(list, p)
	}
	files[strings.TrimPrefix(modload.ListFile, "/")] = []byte(strings.Join(list, "\n") + "\n")
	return files, nil
}

// AppendModules writes img with a second archive appended holding the
// named modules (see ModuleFiles), to out.
func AppendModules(img, kernelDir, out string, names ...string) error {
	files, err := ModuleFiles(kernelDir, names...)
	if err != nil {
		return err
	}
	base, err := os.ReadFile(img)
	if err != nil {
		return err
	}
	buf := bytes.NewBuffer(base)
	for buf.Len()%4 != 0 {
		buf.WriteByte(0)
	}
	if err := cpioGz(buf, files); err != nil {
		return err
	}
	return os.WriteFile(out, buf.Bytes(), 0o644)
}

// writeCpioGz writes files as a gzip'd newc cpio (cpioGz) to out.
func writeCpioGz(out string, files map[string][]byte) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := cpioGz(f, files); err != nil {
		return err
	}
	return f.Close()
}

// cpioGz writes files (and their directories) as a gzip'd newc cpio with
// fixed times, /init executable.
func cpioGz(out io.Writer, files map[string][]byte) error {
	dirs := map[string]bool{"dev": true, "proc": true, "sys": true}
	for n := range files {
		for d := filepath.Dir(n); d != "."; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	var names []string
	for n := range files {
		names = append(names, n)
	}
	for d := range dirs {
		names = append(names, d)
	}
	sort.Strings(names)
	zw, _ := gzip.NewWriterLevel(out, gzip.BestCompression)
	w := cpio.NewWriter(zw)
	for i, n := range names {
		h := &cpio.Header{Name: n, ModTime: time.Unix(0, 0), Inode: int64(i + 1), Links: 1}
		data, isFile := files[n]
		switch {
		case !isFile:
			h.Mode = cpio.TypeDir | 0o755
		case n == "init":
			h.Mode = cpio.TypeReg | 0o755
		default:
			h.Mode = cpio.TypeReg | 0o644
		}
		h.Size = int64(len(data))
		if err := w.WriteHeader(h); err != nil {
			return err
		}
		if _, err := w.Write(data); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return zw.Close()
}
