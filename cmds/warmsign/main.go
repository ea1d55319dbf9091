// Command warmsign makes the keys and signed manifests that a warmboot
// image with trust keys requires before it boots an entry.
//
// Synopsis:
//
//	warmsign keygen -o NAME [-comment TEXT]
//	warmsign sign -key NAME.sec -root DIR (-entry ID | -all | -kernel P [-initrd P]... -cmdline C) [-o NAME] [-net]
//	warmsign manifest -root DIR (-entry ID | -all | -kernel P [-initrd P]... -cmdline C) [-o NAME] [-net]
//	warmsign verify -keys A.pub[,B.pub] -root DIR [-entry ID]
//
// Description:
//
// keygen writes an Ed25519 key pair: NAME.sec (mode 0600, keep it off the
// machines it signs for) and NAME.pub, which "make image TRUST_KEYS=NAME.pub"
// bakes into the bootloader.
//
// sign reads the boot configs under DIR exactly as "warmboot list -root DIR"
// does (DIR is the root of the filesystem holding them, as the bootloader
// mounts it), hashes the chosen entries' kernel and initrds, and writes one
// signed manifest per entry to DIR/warmboot/NAME.manifest: the SHA-256 of
// the kernel and of each initrd, and the exact command line. -entry takes
// an entry's id, its label, or its number in "warmboot list"; -all signs
// every entry; -kernel/-initrd/-cmdline sign an explicit set (paths as the
// config names them, relative to DIR). Re-sign after every kernel or
// command line change: a manifest signs bytes, not file names.
//
// With -net, sign signs a network entry: -root is the directory an HTTP
// or TFTP server serves, -kernel and -initrd the paths of the URLs the
// iPXE script or pxelinux config names (http://server/boot/vmlinuz is
// -kernel /boot/vmlinuz), -cmdline exactly what the script passes, and
// the manifest goes beside the kernel as DIR/boot/vmlinuz.manifest,
// where the bootloader fetches it.
//
// manifest writes the same manifests unsigned, for signing with
// signify-openbsd instead:
//
//	signify-openbsd -S -s ops.sec -m DIR/warmboot/NAME.manifest
//
// which writes NAME.manifest.sig beside it; the image must trust ops.pub.
//
// verify checks the entries under DIR against the manifests there with
// the given public keys, as the bootloader will, and exits 1 if any fails.
//
// On a running system, sign and manifest remember the SHA-256 of each file
// they read in /var/cache/warmboot/sums (by device, inode, size and times), and
// verify, and warmswap's check before a swap through warmboot, do not read
// a file again that has not changed since (package sumcache).
//
// Example:
//
//	warmsign keygen -o release
//	warmsign sign -key release.sec -root /boot -all
//	warmsign verify -keys release.pub -root /boot
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
