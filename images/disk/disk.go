// Package disk builds the demo and test disk images without root or loop
// devices: each filesystem is made in a file (mkfs.ext4 -d from a staging
// directory; mkfs.vfat and mcopy), a GPT is written to the disk image with
// sfdisk, and the filesystems are copied into their partitions.
//
// It also builds the tiny target initramfs the disks' entries boot
// (images/target) and the swap tests' running system (images/system),
// packed with cavaliergopher/cpio.
package disk

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// File is one file to put on a filesystem: Data, or the host file Src,
// with Mode (0644 when zero). A name ending in "/" is an empty directory.
type File struct {
	Data []byte
	Src  string
	Mode os.FileMode
}

// FS is one filesystem (and, on a partitioned disk, its partition).
type FS struct {
	Type    string // "ext4" or "vfat"
	Label   string
	SizeMiB int
	ESP     bool            // partition type EFI System, else Linux filesystem
	Files   map[string]File // path on the filesystem -> contents
}

// Disk is a GPT disk of filesystems, in partition order.
type Disk struct {
	Parts []FS
}

const mib = 1 << 20

// Offset is where partition n (numbered from 1) starts on the disk: the
// first at 1 MiB, each next one right after the one before.
func (d Disk) Offset(n int) int64 {
	off := int64(mib)
	for _, p := range d.Parts[:n-1] {
		off += int64(p.SizeMiB) * mib
	}
	return off
}

// Build writes the disk image d to out.
func Build(ctx context.Context, out string, d Disk) error {
	tmp, err := os.MkdirTemp("", "warmboot-disk-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	var script strings.Builder
	script.WriteString("label: gpt\nlabel-id: 5C8B3E20-8A4F-4E54-9D2E-7761726D626F\nunit: sectors\n")
	var images []string
	for i, p := range d.Parts {
		img := filepath.Join(tmp, fmt.Sprintf("p%d.img", i+1))
		if err := makeFS(ctx, filepath.Join(tmp, fmt.Sprintf("p%d", i+1)), img, p); err != nil {
			return fmt.Errorf("partition %d (%s %s): %w", i+1, p.Type, p.Label, err)
		}
		typ := "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
		if p.ESP {
			typ = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
		}
		fmt.Fprintf(&script, "start=%d, size=%d, type=%s, uuid=5C8B3E20-8A4F-4E54-9D2E-00000000000%d, name=%s\n",
			d.Offset(i+1)/512, int64(p.SizeMiB)*mib/512, typ, i+1, p.Label)
		images = append(images, img)
	}
	total := d.Offset(len(d.Parts)+1) + mib // room for the backup GPT
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Truncate(total); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "sfdisk", "--quiet", "--no-reread", "--no-tell-kernel", out)
	cmd.Stdin = strings.NewReader(script.String())
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("sfdisk: %w: %s", err, b)
	}
	for i, img := range images {
		src, err := os.Open(img)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.NewOffsetWriter(f, d.Offset(i+1)), src)
		src.Close()
		if err != nil {
			return fmt.Errorf("copying partition %d: %w", i+1, err)
		}
	}
	return f.Close()
}

func stage(dir string, files map[string]File) error {
	for name, fl := range files {
		p := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(name, "/")))
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		data := fl.Data
		if fl.Src != "" {
			var err error
			if data, err = os.ReadFile(fl.Src); err != nil {
				return err
			}
		}
		mode := fl.Mode
		if mode == 0 {
			mode = 0o644
		}
		if err := os.WriteFile(p, data, mode); err != nil {
			return err
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			return err
		}
	}
	return os.MkdirAll(dir, 0o755)
}

func makeFS(ctx context.Context, dir, img string, p FS) error {
	if err := stage(dir, p.Files); err != nil {
		return err
	}
	run := func(name string, args ...string) error {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME=1700000000", "MTOOLS_SKIP_CHECK=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s (make deps installs e2fsprogs, dosfstools and mtools)", name, strings.Join(args, " "), err, b)
		}
		return nil
	}
	switch p.Type {
	case "ext4":
		f, err := os.Create(img)
		if err != nil {
			return err
		}
		f.Truncate(int64(p.SizeMiB) * mib)
		f.Close()
		return run("mkfs.ext4", "-q", "-F", "-L", p.Label, "-U", "5c8b3e20-8a4f-4e54-9d2e-6578743400"+fmt.Sprint(10+len(p.Label)%90),
			"-E", "root_owner=0:0,hash_seed=5c8b3e20-8a4f-4e54-9d2e-686173680000", "-d", dir, img)
	case "vfat":
		if err := run("mkfs.vfat", "-C", "-n", strings.ToUpper(p.Label), "-i", "5C8B3E20", img, fmt.Sprint(p.SizeMiB*1024)); err != nil {
			return err
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		if len(ents) == 0 {
			return nil
		}
		args := []string{"-s", "-Q", "-i", img}
		for _, e := range ents {
			args = append(args, filepath.Join(dir, e.Name()))
		}
		return run("mcopy", append(args, "::/")...)
	}
	return fmt.Errorf("unknown filesystem type %q", p.Type)
}

// TargetInitramfs builds images/target and writes a gzip'd newc cpio
// holding it as /init.
func TargetInitramfs(ctx context.Context, moduleRoot, out string) error {
	tmp, err := os.MkdirTemp("", "warmboot-target-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin := filepath.Join(tmp, "init")
	if err := GoBuild(ctx, moduleRoot, "./images/target", bin); err != nil {
		return err
	}
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	return writeCpioGz(out, map[string][]byte{"init": data})
}
