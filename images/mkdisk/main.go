// Command mkdisk builds the demo disk image and the target initramfs its
// entries boot.
//
// Synopsis:
//
//	mkdisk -kernel VMLINUZ -release RELEASE [-o out/demo.img] [-target out/target.img]
//
// Description:
//
// mkdisk builds images/target into a gzip'd initramfs at TARGET and writes
// a GPT disk image to OUT with an ESP (extlinux) and an ext4 /boot (BLS
// entries, grub.cfg with a submenu and grubenv saved_entry), all booting
// VMLINUZ with TARGET. It needs no root: see package images/disk.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/warmboot/warmboot/images/disk"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mkdisk", flag.ContinueOnError)
	fs.SetOutput(stderr)
	kernel := fs.String("kernel", "", "bzImage the entries boot")
	release := fs.String("release", "", "the kernel's release (uname -r), for file names")
	out := fs.String("o", "out/demo.img", "disk image to write")
	target := fs.String("target", "out/target.img", "target initramfs to write")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *kernel == "" || *release == "" {
		fmt.Fprintln(stderr, "mkdisk: -kernel and -release are required (make demo passes them)")
		return 2
	}
	if err := disk.TargetInitramfs(ctx, ".", *target); err != nil {
		fmt.Fprintf(stderr, "mkdisk: %v\n", err)
		return 1
	}
	if err := disk.Build(ctx, *out, disk.Demo(*kernel, *target, *release)); err != nil {
		fmt.Fprintf(stderr, "mkdisk: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "wrote %s and %s\n", *out, *target)
	return 0
}
