package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/warmboot/warmboot/boot/efivar"
	"github.com/warmboot/warmboot/boot/installed"
	"github.com/warmboot/warmboot/boot/mountinfo"
	"github.com/warmboot/warmboot/boot/prepare"
	"github.com/warmboot/warmboot/boot/running"
	"github.com/warmboot/warmboot/boot/trust"
	"github.com/warmboot/warmboot/cmds/internal/cli"
)

// efiEntryCmd is "warmboot efi-entry": make the firmware boot the
// warmboot EFI binary on the ESP first (or, with -remove, no longer).
func efiEntryCmd(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("warmboot efi-entry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	remove := fs.Bool("remove", false, "remove the boot entry and take it out of BootOrder")
	esp := fs.String("esp", "/boot/efi", "where the EFI system partition is mounted")
	file := fs.String("file", `\EFI\warmboot\warmboot.efi`, "the EFI binary, as a path on the ESP with backslashes")
	label := fs.String("label", "warmboot", "the boot entry's description")
	dryRun := fs.Bool("dry-run", false, "say what would be written, and write nothing")
	force := fs.Bool("force", false, "register it even when its policy would refuse every entry on this system")
	root := fs.String("root", "/", "the root under which /proc, /sys, /dev and the ESP are read (for tests)")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return cli.ExitUsage
	}
	say := func(format string, a ...any) { fmt.Fprintf(stdout, "warmboot: efi-entry: "+format+"\n", a...) }
	if err := efiEntry(*root, *esp, *file, *label, *remove, *dryRun, *force, say); err != nil {
		fmt.Fprintf(stderr, "warmboot: efi-entry: %v\n", err)
		return cli.ExitError
	}
	return cli.ExitOK
}

func efiEntry(root, esp, file, label string, remove, dryRun, force bool, say func(string, ...any)) error {
	v := efivar.Vars{Dir: filepath.Join(root, efivar.DefaultDir)}
	if err := v.Available(); err != nil {
		return err
	}
	opt, err := espLoadOption(root, esp, file, label)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("%q %s", label, describePath(opt.FilePath))
	if remove {
		num, found, err := efivar.FindBootOption(v, opt)
		switch {
		case err != nil:
			return err
		case !found:
			say("no boot entry %s: nothing to remove", what)
			return nil
		case dryRun:
			say("would remove %s %s and take it out of BootOrder", efivar.BootOptionName(num), what)
			return nil
		}
		if err := efivar.Unregister(v, num); err != nil {
			return err
		}
		say("removed %s %s", efivar.BootOptionName(num), what)
		return nil
	}
	if err := checkEntries(root, esp, file, force, say); err != nil {
		return err
	}
	r, err := efivar.PlanRegister(v, opt)
	if err != nil {
		return err
	}
	name := efivar.BootOptionName(r.Num)
	verb := "would write"
	if !dryRun {
		if err := r.Apply(v); err != nil {
			return err
		}
		verb = "wrote"
	}
	switch {
	case r.Option == nil && r.Order == nil:
		say("%s %s is already first in BootOrder: nothing to write", name, what)
		return nil
	case r.Option != nil:
		say("%s %s = %s (attributes NV|BS|RT)", verb, name, what)
	}
	if r.Order != nil {
		order := make([]string, len(r.Order))
		for i, n := range r.Order {
			order[i] = fmt.Sprintf("%04X", n)
		}
		say("%s BootOrder = %s", verb, strings.Join(order, ","))
	}
	return nil
}

// checkEntries checks this system's boot entries (running.HostMenu) with
// the policy and keys of the image about to become the firmware's first
// boot entry (file on the ESP at esp), as it will check them: an image
// that enforces keys no entry is signed with would leave every cold boot
// at its rescue shell. That is refused unless force; entries it would
// refuse, while others boot, are said.
func checkEntries(root, esp, file string, force bool, say func(string, ...any)) error {
	dir := path.Join(esp, path.Dir(strings.ReplaceAll(file, `\`, "/")))
	t, img, err := installed.Trust(root, dir)
	if err != nil {
		say("warning: cannot read the policy of the image to register (%v): this system's entries are not checked against it", err)
		return nil
	}
	if t.Policy == trust.Off || len(t.Keys) == 0 {
		return nil // it boots the entries it finds unverified
	}
	m, err := running.HostMenu(root)
	if err != nil {
		return err
	}
	pipe := prepare.Pipeline{Trust: t}
	var refused []string
	for _, e := range m.Entries {
		if _, err := pipe.Verify(e, e.Cmdline, false, nil); err != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", e.Label, err))
		}
	}
	for _, r := range refused {
		say("%s (policy %s) would refuse %s", img, t.Policy, r)
	}
	switch {
	case len(m.Entries) == 0:
		return fmt.Errorf("no boot entries on this system for %s to boot", img)
	case t.Policy == trust.Enforce && len(refused) == len(m.Entries) && !force:
		return fmt.Errorf("%s enforces its keys and would refuse every entry on this system: every cold boot would stop at its rescue shell; sign them (warmsign sign -all) and run this again, or register it anyway with -force", img)
	}
	return nil
}

// espLoadOption is the load option that boots file (\EFI\...) from the
// filesystem mounted on esp: a Hard Drive node for its GPT partition,
// found through /proc/self/mountinfo, /sys/dev/block and the disk's GPT,
// then the file.
func espLoadOption(root, esp, file, label string) (efivar.LoadOption, error) {
	var opt efivar.LoadOption
	if !strings.HasPrefix(file, `\`) || strings.Contains(file, "/") {
		return opt, fmt.Errorf("-file %s: want a path on the ESP with backslashes, like \\EFI\\warmboot\\warmboot.efi", file)
	}
	ms, err := mountinfo.Read(root)
	if err != nil {
		return opt, err
	}
	esp = filepath.Clean(esp)
	var m *mountinfo.Mount
	for i := range ms {
		if ms[i].Dir == esp {
			m = &ms[i] // the last one is on top
		}
	}
	if m == nil {
		return opt, fmt.Errorf("nothing is mounted on %s: mount the EFI system partition there, or pass -esp DIR", esp)
	}
	if m.FSType != "vfat" {
		return opt, fmt.Errorf("%s is %s (%s), not vfat: firmware boots only from a FAT EFI system partition; pass -esp DIR", esp, m.FSType, m.Source)
	}
	onDisk := filepath.Join(root, esp, filepath.FromSlash(strings.ReplaceAll(file, `\`, "/")))
	if fi, err := os.Stat(onDisk); err != nil || !fi.Mode().IsRegular() {
		return opt, fmt.Errorf("%s: no such file on the ESP: copy the warmboot EFI binary there first, or pass -file", onDisk)
	}
	part, err := sysPartition(root, m.Dev)
	if err != nil {
		return opt, fmt.Errorf("%s (%s on %s): %w", esp, m.Source, m.Dev, err)
	}
	disk, err := os.Open(filepath.Join(root, "dev", part.disk))
	if err != nil {
		return opt, fmt.Errorf("reading the GPT of the disk holding %s: %w", esp, err)
	}
	defer disk.Close()
	start, size, guid, err := efivar.PartitionOf(disk, part.sectorSize, part.num)
	if err != nil {
		return opt, fmt.Errorf("/dev/%s: %w", part.disk, err)
	}
	// sysfs counts in 512-byte sectors whatever the disk's block size.
	if start*uint64(part.sectorSize) != part.start*512 || size*uint64(part.sectorSize) != part.size*512 {
		return opt, fmt.Errorf("/dev/%s partition %d: the GPT says blocks %d+%d of %d bytes, the kernel sectors %d+%d of 512: re-read the partition table (partprobe) or fix it", part.disk, part.num, start, size, part.sectorSize, part.start, part.size)
	}
	fileNode, err := efivar.FileNode(file)
	if err != nil {
		return opt, err
	}
	return efivar.LoadOption{
		Attributes:  efivar.LoadOptionActive,
		Description: label,
		FilePath:    efivar.DevicePath{efivar.GPTPartition(uint32(part.num), start, size, guid).Node(), fileNode, efivar.EndNode()},
	}, nil
}

// sysPart is a partition as sysfs describes it.
type sysPart struct {
	disk        string // "sda", "nvme0n1"
	num         int
	sectorSize  int    // the disk's logical block size
	start, size uint64 // in 512-byte sectors
}

// sysPartition describes the partition with device number dev
// ("major:minor") from /sys/dev/block under root.
func sysPartition(root, dev string) (sysPart, error) {
	var p sysPart
	dir, err := filepath.EvalSymlinks(filepath.Join(root, "sys/dev/block", dev))
	if err != nil {
		return p, fmt.Errorf("no block device %s in /sys/dev/block: %w", dev, err)
	}
	readInt := func(name string) (uint64, error) {
		b, err := os.ReadFile(name)
		if err != nil {
			return 0, err
		}
		return strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	num, err := readInt(filepath.Join(dir, "partition"))
	if errors.Is(err, os.ErrNotExist) {
		return p, fmt.Errorf("%s is not a partition of a disk (a whole disk, RAID or device-mapper device): firmware cannot boot from it", filepath.Base(dir))
	}
	if err != nil {
		return p, err
	}
	if p.start, err = readInt(filepath.Join(dir, "start")); err != nil {
		return p, err
	}
	if p.size, err = readInt(filepath.Join(dir, "size")); err != nil {
		return p, err
	}
	diskDir := filepath.Dir(dir)
	bs, err := readInt(filepath.Join(diskDir, "queue/logical_block_size"))
	if err != nil {
		return p, fmt.Errorf("block size of %s: %w", filepath.Base(diskDir), err)
	}
	p.disk, p.num, p.sectorSize = filepath.Base(diskDir), int(num), int(bs)
	return p, nil
}

// describePath prints a device path as efibootmgr -v does, for the nodes
// it has: HD(1,GPT,guid,0x800,0x100000)/\EFI\warmboot\warmboot.efi.
func describePath(dp efivar.DevicePath) string {
	var parts []string
	for _, n := range dp {
		if hd, ok := n.HardDrive(); ok && hd.SignatureType == efivar.SignatureGUID {
			parts = append(parts, fmt.Sprintf("HD(%d,GPT,%s,%#x,%#x)", hd.Partition, efivar.GUID(hd.Signature), hd.Start, hd.Size))
		} else if f, ok := n.FilePath(); ok {
			parts = append(parts, f)
		} else if n.Type != efivar.TypeEnd {
			parts = append(parts, fmt.Sprintf("Path(%d,%d)", n.Type, n.SubType))
		}
	}
	return strings.Join(parts, "/")
}
