#!/bin/bash
# mkdebian.sh [bookworm|trixie]: builds (once) the stock Debian system a
# VM test runs (Debian 12 for TestDebian, the default; Debian 13 for
# TestTrixie: systemd 257, with soft-reboot), and prints the directory
# holding it. Cached outside the work tree
# ($WARMBOOT_CACHE, default ~/.cache/warmboot) under a key of everything
# that shapes it (this script: the package list, the suites, the
# settings; and the two kernel packages chosen); the two newest are kept.
#
# The system is what an operator's server has, from Debian's own packages
# (mmdebstrap, minbase + the list below; bookworm and bookworm-security:
# systemd 252, Debian's kernel one security update behind the newest;
# trixie: systemd 257, its one kernel, 6.12),
# its initramfs-tools initrd (MODULES=dep, below), GRUB's own update-grub
# config. Its first boot (here, in QEMU) runs update-grub, as the
# installer would have.
#
# The directory holds:
#   disk.img    a GPT disk: partition 1, ext4, the root filesystem (/boot on it)
#   vmlinuz, initrd.img   the kernel and initrd the "firmware" boots (QEMU's
#               -kernel stands in for GRUB on the disk)
#   initrd.stock  the stock MODULES=most initrd (30 MB) mmdebstrap made
#   uuid        the root filesystem's UUID
#   cmdline     the command line GRUB's entry gives
#   old, new    the installed kernel release and the newer one (trixie:
#               both the installed one)
#   linux-image-new.deb  (bookworm) the newer kernel's Debian package,
#               re-packed with only the modules this VM uses (a virtio
#               disk, ext4) so that installing it under TCG takes seconds,
#               for the upgrade test
set -euo pipefail
# The directory is this script's only standard output (the Makefile takes
# it with $(...)): everything else, whatever tool prints it and however
# quietly it was asked to run (mke2fs -q still says "Creating regular
# file" on a cold build), goes to standard error.
exec 3>&1 1>&2
say_dir() { echo "$1" >&3; }

suite=${1:-bookworm}
case $suite in
bookworm)
	name=debian12
	mirrors=("deb http://deb.debian.org/debian bookworm main" "deb http://deb.debian.org/debian-security bookworm-security main")
	# The two newest 6.1 kernel ABIs Debian publishes: the system runs
	# the older; the test upgrades to the newer.
	read -r old new < <(apt-cache pkgnames linux-image-6.1.0- | grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' |
		sed 's/^linux-image-//' | sort -V | tail -2 | paste -sd' ')
	if [ -z "${new:-}" ]; then
		echo "mkdebian: apt knows fewer than two linux-image-6.1.0-N-amd64 packages (is bookworm-security in apt's sources? apt-get update)" >&2
		exit 1
	fi
	kernelpkg=linux-image-$old
	;;
trixie)
	name=debian13
	mirrors=("deb http://deb.debian.org/debian trixie main")
	# Its one kernel: the release is read from the system once built.
	old= new=
	kernelpkg=linux-image-amd64
	;;
*)
	echo "usage: mkdebian.sh [bookworm|trixie]" >&2
	exit 2
	;;
esac
# kexec-tools as Debian installs it (LOAD_KEXEC=true: it loads /vmlinuz at
# every reboot) and efibootmgr, with which operators make UEFI boot
# entries that start the kernel itself.
packages=systemd-sysv,dbus,libpam-systemd,udev,kmod,$kernelpkg,initramfs-tools,zstd,e2fsprogs,grub-pc,kexec-tools,efibootmgr
uuid=6b0c2c9e-9d3b-4a51-8a4e-5d6a3b1f0e42
cmdline="console=ttyS0 quiet"

cache=${WARMBOOT_CACHE:-$HOME/.cache/warmboot}
key=$({ cat "$0"; echo "$suite $old $new"; } | sha256sum | cut -c1-16)
dir=$cache/$name-$key
if [ -e "$dir/disk.img" ]; then
	say_dir "$dir"
	exit 0
fi
mkdir -p "$cache"
exec 9>"$cache/$name.lock"
flock 9
if [ -e "$dir/disk.img" ]; then
	say_dir "$dir"
	exit 0
fi
log() { echo "mkdebian: $*" >&2; }
work=$(mktemp -d "$cache/$name-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
start=$SECONDS

hooks=()
if [ -n "$new" ]; then
	log "mmdebstrap $suite ($packages; downloading linux-image-$new)"
	hooks=(--customize-hook='chroot "$1" sh -c "cd /tmp && apt-get download -q linux-image-'"$new"'" && mv "$1"/tmp/linux-image-*.deb "'"$work"'/new.deb"')
else
	log "mmdebstrap $suite ($packages)"
fi
timeout 1800 mmdebstrap --quiet --variant=minbase --include="$packages" "${hooks[@]}" \
	"$suite" "$work/root.tar" "${mirrors[@]}"

log "configuring the root filesystem"
r=$work/root
mkdir "$r"
tar -C "$r" -xf "$work/root.tar"
rm "$work/root.tar"
echo debian >"$r/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdebian\n' >"$r/etc/hosts"
echo "UUID=$uuid / ext4 errors=remount-ro 0 1" >"$r/etc/fstab"
# GRUB's config as an installed system's, with a serial console.
sed -i 's/^GRUB_TIMEOUT=.*/GRUB_TIMEOUT=1/; s/^GRUB_CMDLINE_LINUX=.*/GRUB_CMDLINE_LINUX="console=ttyS0"/' "$r/etc/default/grub"
# The test drives root's shell on the serial console.
mkdir -p "$r/etc/systemd/system/serial-getty@ttyS0.service.d"
cat >"$r/etc/systemd/system/serial-getty@ttyS0.service.d/autologin.conf" <<'UNIT'
[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --noclear --keep-baud 115200,38400,9600 %I dumb
UNIT
cat >>"$r/root/.bashrc" <<'RC'
export TERM=dumb PAGER=cat SYSTEMD_PAGER=cat SYSTEMD_COLORS=0
stty -echo 2>/dev/null
PS1='wbdeb# '
RC
# initramfs-tools' MODULES=dep (the drivers this machine needs) rather
# than the stock MODULES=most: under TCG, rebuilding a MODULES=most initrd
# (which installing the package triggers) takes eight minutes, most of it
# resolving modules one modprobe at a time. The first boot rebuilds the
# initrd so (dep probes the real hardware), writes GRUB's config
# (update-grub probes the real disk) and powers off.
cat >"$r/etc/systemd/system/wbtest-firstboot.service" <<'UNIT'
[Unit]
Description=First boot: update-grub, as the installer would
ConditionPathExists=!/boot/grub/grub.cfg
After=local-fs.target

[Service]
Type=oneshot
ExecStart=/usr/sbin/update-initramfs -u
ExecStart=/usr/sbin/update-grub
ExecStartPost=/bin/systemctl --no-block poweroff

[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/wbtest-firstboot.service "$r/etc/systemd/system/multi-user.target.wants/wbtest-firstboot.service"
sed -i 's/^MODULES=.*/MODULES=dep/' "$r/etc/initramfs-tools/initramfs.conf"
if [ -z "$old" ]; then
	old=$(basename "$(ls -1 "$r"/boot/vmlinuz-* | sort -V | tail -1)")
	old=${old#vmlinuz-}
	new=$old
fi
rel=$old
cp "$r/boot/vmlinuz-$rel" "$work/vmlinuz"
cp "$r/boot/initrd.img-$rel" "$work/initrd.stock"

if [ -e "$work/new.deb" ]; then
	log "re-packing linux-image-$new with the modules this VM uses"
	p=$work/kpkg
	dpkg-deb -R "$work/new.deb" "$p"
	rm "$work/new.deb"
	(cd "$p/lib/modules/$new/kernel" && find . -mindepth 1 -maxdepth 1 ! -name fs ! -name lib ! -name crypto ! -name drivers -exec rm -rf {} + &&
		find drivers -mindepth 1 -maxdepth 1 ! -name block ! -name virtio ! -name char -exec rm -rf {} +)
	(cd "$p" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$p/DEBIAN/md5sums"
	dpkg-deb -Zgzip -z1 --root-owner-group --build "$p" "$work/linux-image-new.deb" >/dev/null
	rm -rf "$p"
fi

log "making the disk"
mke2fs -q -t ext4 -U "$uuid" -L debian -d "$r" "$work/root.ext4" 3G
rm -rf "$r"
truncate -s $((3 * 1024 + 2))M "$work/disk.img"
echo 'label: gpt
start=2048, size=6291456, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4' | sfdisk -q "$work/disk.img"
dd if="$work/root.ext4" of="$work/disk.img" bs=1M seek=1 conv=notrunc,sparse status=none
rm "$work/root.ext4"

log "first boot (update-grub), in QEMU"
# One vCPU: make test builds both systems at once beside its other work,
# and under TCG a VM whose vCPUs outnumber the free cores stalls at each
# flush of its translation cache (vmtest's debianCPUs).
timeout 900 qemu-system-x86_64 -machine q35 ${WARMBOOT_QEMU_ACCEL:--accel tcg} -cpu ${WARMBOOT_QEMU_CPU:-qemu64,+rdrand} -m 1G -smp 1 -nographic -no-reboot \
	-kernel "$work/vmlinuz" -initrd "$work/initrd.stock" -append "root=UUID=$uuid ro $cmdline" \
	-drive "file=$work/disk.img,if=virtio,format=raw" >"$work/firstboot.log" 2>&1 ||
	{ tail -40 "$work/firstboot.log" >&2; log "the first boot failed"; exit 1; }
if ! debugfs -R 'stat /boot/grub/grub.cfg' "$work/disk.img?offset=1048576" 2>&1 | grep -q '^Inode:'; then
	tail -40 "$work/firstboot.log" >&2
	log "the first boot did not write /boot/grub/grub.cfg"
	exit 1
fi
# The firmware boots what GRUB would: the initrd the first boot wrote.
debugfs -R "dump /boot/initrd.img-$rel $work/initrd.img" "$work/disk.img?offset=1048576" 2>/dev/null
test -s "$work/initrd.img"
echo "$old" >"$work/old"
echo "$new" >"$work/new"
echo "$uuid" >"$work/uuid"
echo "root=UUID=$uuid ro $cmdline" >"$work/cmdline"
mkdir -p "$dir.new"
mv "$work"/{disk.img,vmlinuz,initrd.img,initrd.stock,uuid,cmdline,old,new,firstboot.log} "$dir.new/"
if [ -e "$work/linux-image-new.deb" ]; then
	mv "$work/linux-image-new.deb" "$dir.new/"
fi
mv "$dir.new" "$dir"
# Keep the two newest.
ls -1dt "$cache/$name"-*/ 2>/dev/null | grep -v build | tail -n +3 | xargs -r rm -rf
log "built in $((SECONDS - start)) s"
say_dir "$dir"
