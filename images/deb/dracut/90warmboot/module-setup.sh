#!/bin/bash
# dracut module warmboot: copies the record warmboot hands over
# (/.warmboot in the initramfs) to /run/warmboot before switch-root, as
# the initramfs-tools script does. Included in every image: it costs one
# small script and does nothing on a boot without warmboot.

check() {
	return 0
}

depends() {
	return 0
}

install() {
	inst_multiple cp mkdir
	inst_hook pre-pivot 90 "$moddir/warmboot-copy.sh"
}
