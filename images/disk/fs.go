package disk

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// xfsProto writes mkfs.xfs's prototype file for the tree at dir: regular
// files by their host path, directories, symlinks and FIFOs as they are.
func xfsProto(dir string) (string, error) {
	var b strings.Builder
	b.WriteString("/dev/null\n0 0\nd--755 0 0\n")
	var walk func(d string) error
	walk = func(d string) error {
		ents, err := os.ReadDir(d)
		if err != nil {
			return err
		}
		sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			st, err := os.Lstat(p)
			if err != nil {
				return err
			}
			perm := fmt.Sprintf("%03o", st.Mode().Perm())
			switch m := st.Mode(); {
			case m.IsDir():
				fmt.Fprintf(&b, "%s d--%s 0 0\n", e.Name(), perm)
				if err := walk(p); err != nil {
					return err
				}
				b.WriteString("$\n")
			case m&fs.ModeSymlink != 0:
				t, err := os.Readlink(p)
				if err != nil {
					return err
				}
				fmt.Fprintf(&b, "%s l--777 0 0 %s\n", e.Name(), t)
			case m&fs.ModeNamedPipe != 0:
				fmt.Fprintf(&b, "%s p--%s 0 0\n", e.Name(), perm)
			case m.IsRegular():
				fmt.Fprintf(&b, "%s ---%s 0 0 %s\n", e.Name(), perm, p)
			default:
				return fmt.Errorf("%s: cannot put a %s on an XFS test image", p, m.Type())
			}
		}
		return nil
	}
	if err := walk(dir); err != nil {
		return "", err
	}
	b.WriteString("$\n")
	return b.String(), nil
}

// makeBtrfs makes a btrfs image with p's subvolumes and files. mkfs.btrfs
// (6.2) cannot make subvolumes offline, so the image is mounted through a
// loop device (root only) when there are any.
func makeBtrfs(ctx context.Context, dir, img string, size int64, p FS, uuid string) error {
	if err := sized(img, size); err != nil {
		return err
	}
	run := func(name string, args ...string) error {
		if b, err := exec.CommandContext(ctx, name, args...).CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w: %s (make deps installs btrfs-progs)", name, strings.Join(args, " "), err, b)
		}
		return nil
	}
	if len(p.Subvolumes) == 0 {
		return run("mkfs.btrfs", "-q", "-f", "-L", p.Label, "-U", uuid, "--rootdir", dir, img)
	}
	if err := run("mkfs.btrfs", "-q", "-f", "-L", p.Label, "-U", uuid, img); err != nil {
		return err
	}
	mnt, err := os.MkdirTemp("", "warmboot-btrfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(mnt)
	if err := run("mount", "-o", "loop", img, mnt); err != nil {
		return fmt.Errorf("btrfs subvolumes need root and a loop device: %w", err)
	}
	defer exec.Command("umount", mnt).Run()
	for _, sv := range p.Subvolumes {
		if err := run("btrfs", "subvolume", "create", filepath.Join(mnt, sv)); err != nil {
			return err
		}
	}
	if err := run("cp", "-a", dir+"/.", mnt+"/"); err != nil {
		return err
	}
	return run("umount", mnt)
}

// makePV makes img (a partition image) an LVM physical volume holding
// volume group vg with logical volume lv of lvSize bytes, and returns the
// offset of the volume's data in img. lvm writes its metadata only to a
// block device, so img goes through a loop device (root only); no
// device-mapper is needed, since the volume is never activated here.
func makePV(ctx context.Context, img, vg, lv string, lvSize int64) (int64, error) {
	out, err := exec.CommandContext(ctx, "losetup", "-f", "--show", img).Output()
	if err != nil {
		return 0, fmt.Errorf("losetup (LVM test disks need root and a loop device): %w", err)
	}
	loop := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", loop).Run()
	lvm := func(args ...string) (string, error) {
		args = append([]string{args[0], "--driverloaded", "n"}, args[1:]...)
		cmd := exec.CommandContext(ctx, "lvm", args...)
		cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
		b, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("lvm %s: %w: %s (make deps installs lvm2)", strings.Join(args, " "), err, b)
		}
		return string(b), nil
	}
	if _, err := lvm("pvcreate", "-y", "-ff", loop); err != nil {
		return 0, err
	}
	if _, err := lvm("vgcreate", "-y", vg, loop); err != nil {
		return 0, err
	}
	if _, err := lvm("lvcreate", "-y", "-an", "-Zn", "-L", strconv.FormatInt(lvSize, 10)+"b", "-n", lv, vg); err != nil {
		return 0, err
	}
	start, err := lvm("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", loop)
	if err != nil {
		return 0, err
	}
	// The volume group is forgotten by the host: nothing was activated,
	// and the loop device goes away.
	for _, l := range strings.Split(start, "\n") {
		if n, err := strconv.ParseInt(strings.TrimSpace(l), 10, 64); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("lvm pvs: no pe_start in %q", start)
}

// ISO writes an ISO 9660 image (Rock Ridge, as installer media are made)
// of files to out, with volume identifier label, made by xorriso.
func ISO(ctx context.Context, out, label string, files map[string]File) error {
	dir, err := os.MkdirTemp("", "warmboot-iso-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if err := stage(dir, files); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-V", label,
		"--modification-date=2024062909382700", "-o", out, dir)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("xorriso: %w: %s (make deps installs xorriso)", err, b)
	}
	return nil
}
