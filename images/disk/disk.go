// Package disk builds the demo and test disk images: each filesystem is
// made in a file (mkfs.ext4 -d and mkfs.xfs -p from a staging directory;
// mkfs.vfat and mcopy), a GPT is written to the disk image with sfdisk, and
// the filesystems are copied into their partitions, as md RAID1 members
// (with a superblock written here: see MD) or inside an LVM logical volume
// when asked. Only btrfs subvolumes and LVM need root and a loop device
// (mkfs.btrfs cannot make subvolumes offline, and lvm writes its metadata
// only to a block device); everything else is built without root.
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
	"syscall"
)

// File is one file to put on a filesystem: Data, or the host file Src,
// with Mode (0644 when zero). A name ending in "/" is an empty directory.
// Mode may make it a symlink (Data is the target) or a FIFO, for disks a
// hostile party wrote.
type File struct {
	Data []byte
	Src  string
	Mode os.FileMode
}

// FS is one filesystem (and, on a partitioned disk, its partition).
type FS struct {
	Type    string // "ext4", "vfat", "xfs" or "btrfs"
	Label   string
	UUID    string // the filesystem's UUID (vfat: its serial, "XXXX-XXXX"); default derived from Label
	SizeMiB int
	ESP     bool            // partition type EFI System, else Linux filesystem
	FAT32   bool            // vfat: FAT32 as on a server's ESP (mkfs.vfat picks FAT16 below 512 MiB); SizeMiB ≥ 33
	Files   map[string]File // path on the filesystem -> contents
	// Subvolumes are btrfs subvolumes made before Files are copied
	// (Files may then be put inside them: "/@/boot/x").
	Subvolumes []string
	// MD, when set, makes the partition a member of an md RAID1 array
	// whose data is this filesystem.
	MD *MD
	// LVM, when set, makes the partition an LVM physical volume holding
	// volume group LVM[0] with one logical volume LVM[1], whose data is
	// this filesystem.
	LVM *[2]string
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
		if err := makePart(ctx, filepath.Join(tmp, fmt.Sprintf("p%d", i+1)), img, p); err != nil {
			return fmt.Errorf("partition %d (%s %s): %w", i+1, p.Type, p.Label, err)
		}
		typ := "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
		switch {
		case p.ESP:
			typ = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
		case p.MD != nil:
			typ = "A19D880F-05FC-4D3B-A006-743F0F84911E"
		case p.LVM != nil:
			typ = "E6D6D379-F507-44C2-A23C-238F2A3DF928"
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
		switch {
		case mode&os.ModeSymlink != 0:
			if err := os.Symlink(string(data), p); err != nil {
				return err
			}
			continue
		case mode&os.ModeNamedPipe != 0:
			if err := syscall.Mkfifo(p, uint32(mode.Perm())); err != nil {
				return err
			}
			continue
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

func sized(img string, size int64) error {
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	if err := f.Truncate(size); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// makePart makes the partition image: the filesystem, inside an md member
// or an LVM physical volume when asked.
func makePart(ctx context.Context, dir, img string, p FS) error {
	if p.MD == nil && p.LVM == nil {
		return makeFS(ctx, dir, img, p)
	}
	size := int64(p.SizeMiB) * mib
	inner := p
	inner.MD, inner.LVM = nil, nil
	// The filesystem gets what the container leaves: 1 MiB for md's
	// superblock and data offset, 1 MiB of LVM metadata and an extent's
	// rounding.
	inner.SizeMiB = p.SizeMiB - 1
	if p.LVM != nil {
		inner.SizeMiB = (p.SizeMiB - 2) &^ 3
	}
	fsImg := img + ".fs"
	if err := makeFS(ctx, dir, fsImg, inner); err != nil {
		return err
	}
	data, err := os.Open(fsImg)
	if err != nil {
		return err
	}
	defer data.Close()
	if err := sized(img, size); err != nil {
		return err
	}
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	var dataOff int64
	if p.MD != nil {
		sb, off, superOff, err := p.MD.superblock(size)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(sb, superOff); err != nil {
			return err
		}
		dataOff = off
	} else {
		if dataOff, err = makePV(ctx, img, p.LVM[0], p.LVM[1], int64(inner.SizeMiB)*mib); err != nil {
			return err
		}
	}
	if _, err := io.Copy(io.NewOffsetWriter(f, dataOff), data); err != nil {
		return err
	}
	return f.Close()
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
	uuid := p.UUID
	if uuid == "" {
		uuid = "5c8b3e20-8a4f-4e54-9d2e-6578743400" + fmt.Sprint(10+len(p.Label)%90)
	}
	size := int64(p.SizeMiB) * mib
	switch p.Type {
	case "ext4":
		if err := sized(img, size); err != nil {
			return err
		}
		return run("mkfs.ext4", "-q", "-F", "-L", p.Label, "-U", uuid,
			"-E", "root_owner=0:0,hash_seed=5c8b3e20-8a4f-4e54-9d2e-686173680000", "-d", dir, img)
	case "xfs":
		if err := sized(img, size); err != nil {
			return err
		}
		proto, err := xfsProto(dir)
		if err != nil {
			return err
		}
		pf := img + ".proto"
		if err := os.WriteFile(pf, []byte(proto), 0o644); err != nil {
			return err
		}
		// xfsprogs refuses filesystems under 300 MB unless it is making
		// a test filesystem, which these are (its fstests convention).
		cmd := exec.CommandContext(ctx, "mkfs.xfs", "-q", "-f", "-L", p.Label, "-m", "uuid="+uuid, "-p", pf, img)
		cmd.Env = append(os.Environ(), "TEST_DIR=1", "TEST_DEV=1", "QA_CHECK_FS=1")
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("mkfs.xfs: %w: %s (make deps installs xfsprogs)", err, b)
		}
		return nil
	case "btrfs":
		return makeBtrfs(ctx, dir, img, size, p, uuid)
	case "vfat":
		serial := "5C8B3E20"
		if p.UUID != "" {
			serial = strings.ReplaceAll(p.UUID, "-", "")
		}
		mkfs := []string{"-C", "-n", strings.ToUpper(p.Label), "-i", serial}
		if p.FAT32 {
			mkfs = append(mkfs, "-F", "32", "-s", "1")
		}
		if err := run("mkfs.vfat", append(mkfs, img, fmt.Sprint(p.SizeMiB*1024))...); err != nil {
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
