#!/usr/bin/env bash
# Installs what warmboot's build and tests need, idempotently:
#   setup.sh deps          Debian packages and Go modules
#   setup.sh kernel DIR    the Debian test kernel, extracted into DIR
# Downloads have timeouts and one retry; nothing is fetched twice.
set -euo pipefail

PACKAGES=(qemu-system-x86 zstd e2fsprogs dosfstools mtools fdisk cpio signify-openbsd swtpm swtpm-tools tpm2-tools ovmf grub-efi-amd64-bin grub-common xfsprogs btrfs-progs mdadm lvm2 util-linux xorriso
	sbsigntool openssl
	# Unified kernel images: systemd's stub to build them with, and
	# systemd-measure to predict what sd-stub measures.
	systemd-boot-efi systemd
	# The Debian package (make deb) and the stock Debian system TestDebian
	# runs (images/debian/mkdebian.sh).
	lintian mmdebstrap qemu-utils
	# The payload kernel (make payload): Debian's 6.1 source, the line of
	# the test kernel, and what building it takes.
	linux-source-6.1 build-essential flex bison bc libelf-dev libssl-dev)

retry() { # retry SECONDS CMD...: run with a timeout, once more on failure
	local t=$1; shift
	timeout "$t" "$@" || { echo "setup: '$*' failed or timed out; retrying once" >&2; timeout "$t" "$@"; }
}

deps() {
	local missing=()
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		echo "setup: installing ${missing[*]}"
		local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
		retry 300 $sudo apt-get update -q
		DEBIAN_FRONTEND=noninteractive retry 900 $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
	fi
	command -v go >/dev/null || { echo "setup: Go is not installed (need go >= 1.26 on PATH)" >&2; exit 1; }
	retry 600 go mod download
}

kernel() {
	local dir=$1
	if [ -s "$dir/release" ] && [ -s "$dir/vmlinuz" ]; then
		return 0
	fi
	local tmp; tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' RETURN
	# linux-image-amd64 is a metapackage; its dependency names the real
	# package, whose ABI suffix changes with Debian security updates.
	(cd "$tmp" && retry 120 apt-get download linux-image-amd64 2>/dev/null) ||
		{ apt-get update -q >/dev/null 2>&1 || true; (cd "$tmp" && retry 120 apt-get download linux-image-amd64); }
	local real
	real=$(dpkg-deb -f "$tmp"/linux-image-amd64_*.deb Depends | grep -o 'linux-image-[0-9][^ ,]*' | head -1)
	echo "setup: downloading $real"
	(cd "$tmp" && retry 600 apt-get download "$real")
	rm -rf "$dir" && mkdir -p "$dir"
	dpkg-deb -x "$tmp/$real"_*.deb "$dir"
	local rel; rel=$(basename "$dir"/lib/modules/*)
	cp "$dir/boot/vmlinuz-$rel" "$dir/vmlinuz"
	echo "$rel" > "$dir/release"
	echo "setup: kernel $rel in $dir"
}

case "${1:-}" in
deps) deps ;;
kernel) kernel "${2:?usage: setup.sh kernel DIR}" ;;
*) echo "usage: setup.sh deps | kernel DIR" >&2; exit 2 ;;
esac
