// Package installed describes the warmboot image an operator installed on
// a host: where it lives (Dir, /boot/warmboot), which files make it (a payload kernel with the image inside, or vmlinuz
// with an initramfs; an optional cmdline file), and the trust (policy and
// keys, package trust) baked into it, which decides what that image will
// boot.
//
// warmswap loads the image and checks a target against its trust before
// stopping anything; "warmboot list" and "warmsign verify -bootloader"
// report that trust. The package only reads the host's files; it links
// neither warmswap's planner nor its shutdown, so the bootloader's own
// binary can use it.
package installed
