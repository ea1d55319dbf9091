#!/bin/bash
# mkukify.sh: builds (once) a Debian 13 (trixie) root with systemd's
# ukify, its stubs and sbsigntool, and prints the directory holding it
# (root/ inside). The VM tests build real unified kernel images with it,
# as a distribution's kernel-install or mkosi would: "chroot DIR/root
# ukify build ...". Debian 12's systemd (252) predates multi-profile
# UKIs, add-ons and ukify's --join-profile; trixie has systemd 257.
#
# Cached outside the work tree ($WARMBOOT_CACHE, default
# ~/.cache/warmboot) under a key of this script; the newest two are kept.
set -euo pipefail
exec 3>&1 1>&2
say_dir() { echo "$1" >&3; }

suite=trixie
mirror="deb http://deb.debian.org/debian trixie main"
packages=systemd-ukify,systemd-boot-efi,python3-pefile,sbsigntool,binutils

cache=${WARMBOOT_CACHE:-$HOME/.cache/warmboot}
key=$(sha256sum <"$0" | cut -c1-16)
dir=$cache/ukify-$key
if [ -x "$dir/root/usr/bin/ukify" ]; then
	say_dir "$dir"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/ukify.lock"
flock 9
if [ -x "$dir/root/usr/bin/ukify" ]; then
	say_dir "$dir"
	exit 0
fi
work=$(mktemp -d "$cache/ukify-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS
echo "mkukify: mmdebstrap $suite ($packages)"
timeout 1200 mmdebstrap --quiet --variant=minbase --include="$packages" "$suite" "$work/root.tar" "$mirror"
mkdir "$work/root"
tar -C "$work/root" -xf "$work/root.tar"
rm "$work/root.tar"
chroot "$work/root" ukify --version
test -e "$work/root/usr/lib/systemd/boot/efi/linuxx64.efi.stub"
test -e "$work/root/usr/lib/systemd/boot/efi/addonx64.efi.stub"
mkdir -p "$dir.new"
mv "$work/root" "$dir.new/root"
rm -rf "$dir"
mv "$dir.new" "$dir"
# Keep the two newest.
ls -dt "$cache"/ukify-*/ 2>/dev/null | grep -v build | tail -n +3 | xargs -r rm -rf
echo "mkukify: built $dir in $((SECONDS - start)) s"
say_dir "$dir"
