#!/bin/bash
# mkdeb.sh OUT.deb: builds the warmboot Debian package from this
# repository with dpkg-deb (make deb). The bootloader itself is not in it:
# it carries the operator's keys, so it is built with
# "make payload TRUST_KEYS=..." (or, for a driver the payload lacks,
# "make image") and installed into /boot/warmboot (README: Installing on a
# Debian/systemd host).
set -euo pipefail
out=$(realpath -m "${1:?usage: mkdeb.sh OUT.deb}")
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# A native package: the version counts commits, so a newer checkout
# upgrades an older one.
n=$(git -C "$repo" rev-list --count HEAD 2>/dev/null || echo 0)
h=$(git -C "$repo" rev-parse --short=8 HEAD 2>/dev/null || echo unknown)
version="0.$n"
arch=$(dpkg --print-architecture)

r=$stage/root
inst() { # inst MODE SRC DEST
	install -D -m "$1" "$2" "$r$3"
}
for c in warmswap:/usr/sbin warmboot:/usr/sbin warmsign:/usr/bin; do
	name=${c%%:*} dir=${c#*:}
	mkdir -p "$r$dir"
	(cd "$repo" && GOARCH=$arch go build -buildmode=pie -trimpath -ldflags="-s -w -buildid=" -o "$r$dir/$name" "./cmds/$name")
done
sd=$repo/cmds/warmswap/systemd
for u in warmboot-load.service warmboot-bless.service warmboot-booted.service; do
	inst 644 "$sd/$u" "/usr/lib/systemd/system/$u"
done
inst 644 "$sd/systemd-reboot-warmboot.conf" /usr/lib/systemd/system/systemd-reboot.service.d/warmboot.conf
# systemd-bless-boot does not run on a warm boot: its LoaderBootCountPath
# names what systemd-boot booted at power on (see the file).
inst 644 "$sd/systemd-bless-boot-warmboot.conf" /usr/lib/systemd/system/systemd-bless-boot.service.d/warmboot.conf
inst 755 "$sd/warmboot-teardown" /usr/lib/systemd/system-shutdown/warmboot-teardown
inst 755 "$here/initramfs-tools/hook" /usr/share/initramfs-tools/hooks/warmboot
inst 755 "$here/initramfs-tools/init-bottom" /usr/share/initramfs-tools/scripts/init-bottom/warmboot
inst 755 "$here/dracut/90warmboot/module-setup.sh" /usr/lib/dracut/modules.d/90warmboot/module-setup.sh
inst 755 "$here/dracut/90warmboot/warmboot-copy.sh" /usr/lib/dracut/modules.d/90warmboot/warmboot-copy.sh
inst 755 "$here/kernel-hook" /usr/lib/warmboot/kernel-hook
# The hooks in /etc are conffiles: an operator may remove one to turn it off.
for hk in kernel/postinst.d/zz-warmboot:postinst kernel/postrm.d/zz-warmboot:postrm initramfs/post-update.d/warmboot:post-update; do
	f=/etc/${hk%%:*}
	mkdir -p "$(dirname "$r$f")"
	printf '#!/bin/sh\n# warmboot: see /usr/lib/warmboot/kernel-hook\nexec /usr/lib/warmboot/kernel-hook %s "$@"\n' "${hk#*:}" >"$r$f"
	chmod 755 "$r$f"
done
inst 644 "$here/etc/warmboot.conf" /etc/warmboot/warmboot.conf
# kexec-tools loads no kernel at reboot behind warmboot's back (see the file).
inst 644 "$here/etc/kexec-tools" /etc/default/kexec.d/warmboot
mkdir -p "$r/etc/warmboot/teardown.d"
# Manual pages: each command's own documentation (its package comment).
for c in warmswap:8 warmboot:8 warmsign:1; do
	name=${c%%:*} sec=${c#*:}
	text=$(cd "$repo" && go doc "./cmds/$name")
	{
		printf '.TH %s %s "" "warmboot %s" "warmboot"\n.SH NAME\n%s \\- %s\n.SH DESCRIPTION\n.nf\n' \
			"${name^^}" "$sec" "$version" "$name" "$(sed '/^$/q' <<<"$text" | tr '\n' ' ' | sed 's/^Command [a-z]* //; s/[.:] .*//')"
		sed 's/\\/\\e/g; s/^[.'"'"']/\\\&&/' <<<"$text"
		printf '.fi\n'
	} | gzip -9n >"$stage/$name.$sec.gz"
	inst 644 "$stage/$name.$sec.gz" "/usr/share/man/man$sec/$name.$sec.gz"
done
doc=/usr/share/doc/warmboot
inst 644 "$here/debian/copyright" "$doc/copyright"
gzip -9n <"$repo/README.md" >"$stage/README.md.gz" && inst 644 "$stage/README.md.gz" "$doc/README.md.gz"
date=$(git -C "$repo" log -1 --format=%aD 2>/dev/null || date -R)
printf 'warmboot (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- warmboot developers <dev@warmboot.invalid>  %s\n' \
	"$version" "$h" "$date" | gzip -9n >"$stage/changelog.gz"
inst 644 "$stage/changelog.gz" "$doc/changelog.gz"

mkdir -p "$r/DEBIAN"
for f in postinst prerm postrm; do inst 755 "$here/debian/$f" "/DEBIAN/$f"; done
inst 644 "$here/debian/triggers" /DEBIAN/triggers
(cd "$r" && find etc -type f | sed 's|^|/|' | sort) >"$r/DEBIAN/conffiles"
(cd "$r" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$r/DEBIAN/md5sums"
size=$(du -sk --exclude=DEBIAN "$r" | cut -f1)
cat >"$r/DEBIAN/control" <<CONTROL
Package: warmboot
Version: $version
Architecture: $arch
Maintainer: warmboot developers <dev@warmboot.invalid>
Installed-Size: $size
Section: admin
Priority: optional
Depends: libc6
Recommends: initramfs-tools | dracut
Suggests: signify-openbsd
Homepage: https://github.com/warmboot/warmboot
Description: warm kernel swaps and reboots through the warmboot bootloader
 warmboot is a LinuxBoot-style bootloader (a Linux kernel and a Go
 initramfs) that finds GRUB, Boot Loader Specification and syslinux
 configs, verifies what it boots against signed manifests and boots it by
 kexec. This package holds what runs on the booted system: warmswap
 (swap the running kernel, or re-enter warmboot on reboot, with no
 firmware POST, and come back by itself if the new kernel fails),
 warmboot list and bless, warmsign, the systemd units, the initramfs-tools
 and dracut hooks that hand warmboot's record to the system, and kernel
 hooks that keep manifests and the loaded bootloader current.
 .
 The bootloader carries the operator's keys and is built from the source
 tree (make payload TRUST_KEYS=...) into /boot/warmboot/warmboot.bzImage.
CONTROL
find "$r" -type d -exec chmod 755 {} +
dpkg-deb --root-owner-group -Zxz --build "$r" "$out" >/dev/null
echo "deb: $out (warmboot $version, commit $h, $(du -k "$out" | cut -f1) KiB)"
