#!/usr/bin/env bash
# scripts/build-test-image.sh [OUT_DIR] - tiny bootable test guests from Debian packages.
#
# Builds two images (default OUT_DIR: ~/.cache/rustack-ci/images):
#   rustack-test.qcow2      image_ref      (console marker image=rustack-test)
#   rustack-test-alt.qcow2  image_ref_alt  (console marker image=rustack-test-alt)
# plus vmlinuz and initrd.img (direct kernel boot, used by scripts/bench-qemu.sh).
#
# Each image: MBR + one ext4 partition with busybox-static, Debian's cloud kernel and a
# busybox initramfs (virtio, ACPI button and evdev modules), booted by extlinux from the
# disk alone (SeaBIOS -> extlinux; GRUB when no loop device can be used). On boot the
# guest runs DHCP on eth0, fetches the hostname and public key from 169.254.169.254,
# prints `RUSTACK-METADATA ...`, `RUSTACK-PUBKEY ...`, starts httpd on :80 answering its
# hostname, then prints `RUSTACK-GUEST-UP ip=<addr> host=<name> image=<variant>` on the
# serial console. The ACPI power button (QMP system_powerdown) powers it off cleanly.
# dropbear listens on :22 (login as root or cirros with the metadata public key only).
# The guest scripts are in scripts/test-image/. Recipe: docs/testing.md, and
# shared/research/dataplane.md section 1.
#
# Downloads (.deb) are cached under ~/.cache/rustack-ci/debs; the images are rebuilt only
# when the inputs (scripts, kernel version) change. FORCE=1 rebuilds.
# Needs root for the loop mount extlinux needs (GRUB variant otherwise).
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=lib-qemu.sh
source "$(dirname "$0")/lib-qemu.sh"

OUT=${1:-$RUSTACK_CI_CACHE/images}
G="$RUSTACK_ROOT/scripts/test-image"
DEBS="$RUSTACK_CI_CACHE/debs"
mkdir -p "$OUT" "$DEBS"
OUT=$(cd "$OUT" && pwd)

apt_install e2fsprogs fdisk cpio extlinux syslinux-common
command -v qemu-img >/dev/null 2>&1 || ensure_qemu

# 1. packages: the current cloud kernel and busybox-static, cached.
kpkg() { apt-cache depends linux-image-cloud-amd64 2>/dev/null | awk '/Depends: linux-image-/{print $2; exit}'; }
KPKG=$(kpkg)
if [[ -z "$KPKG" ]]; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
  KPKG=$(kpkg)
fi
[[ -n "$KPKG" ]] || die "cannot resolve linux-image-cloud-amd64"
KVER=${KPKG#linux-image-}
fetch_deb() { # name -> path of the cached .deb
  local f
  f=$(find "$DEBS" -maxdepth 1 -name "${1}_*.deb" | sort | tail -1)
  if [[ -z "$f" ]]; then
    (cd "$DEBS" && apt-get download "$1" 2>&1 | grep -v 'unsandboxed' >&2) || die "apt-get download $1 failed"
    f=$(find "$DEBS" -maxdepth 1 -name "${1}_*.deb" | sort | tail -1)
  fi
  echo "$f"
}
KDEB=$(fetch_deb "$KPKG")
BBDEB=$(fetch_deb busybox-static)
# dropbear (SSH server, key login as root) and the shared libraries it needs.
SSHDEBS=()
for p in dropbear-bin libc6 libcrypt1 libtomcrypt1 libtommath1 libgmp10 zlib1g; do SSHDEBS+=("$(fetch_deb "$p")"); done

STAMP=$( (cat "$0" "$G"/*; basename "$KDEB"; basename "$BBDEB"; for d in "${SSHDEBS[@]}"; do basename "$d"; done) | sha256sum | cut -c1-16)
if [[ "${FORCE:-0}" != 1 && -f "$OUT/.stamp" && "$(cat "$OUT/.stamp")" == "$STAMP" \
      && -f "$OUT/rustack-test.qcow2" && -f "$OUT/rustack-test-alt.qcow2" ]]; then
  say "test images up to date in $OUT"
  exit 0
fi

t0=$(date +%s.%N)
W=$(mktemp -d "${TMPDIR:-/tmp}/rustack-image.XXXXXX")
LOOP=""
cleanup() {
  if [[ -n "$LOOP" ]]; then umount "$W/mnt" 2>/dev/null || true; losetup -d "$LOOP" 2>/dev/null || true; fi
  rm -rf "$W"
}
trap cleanup EXIT
cd "$W"
dpkg-deb -x "$KDEB" k
dpkg-deb -x "$BBDEB" bb
for d in "${SSHDEBS[@]}"; do dpkg-deb -x "$d" ssh; done
MODDIR=k/lib/modules/$KVER/kernel
cp "k/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
MODS="drivers/virtio/virtio.ko drivers/virtio/virtio_ring.ko drivers/virtio/virtio_pci_legacy_dev.ko
drivers/virtio/virtio_pci_modern_dev.ko drivers/virtio/virtio_pci.ko net/core/failover.ko
drivers/net/net_failover.ko drivers/net/virtio_net.ko drivers/block/virtio_blk.ko
drivers/char/hw_random/virtio-rng.ko drivers/acpi/button.ko drivers/input/evdev.ko"
# Config drive (IDE CD-ROM + ISO 9660): loaded by stage 2 in the background.
CDMODS="drivers/scsi/scsi_common.ko drivers/scsi/scsi_mod.ko drivers/ata/libata.ko drivers/ata/ata_piix.ko
drivers/cdrom/cdrom.ko drivers/scsi/sr_mod.ko fs/isofs/isofs.ko"

# 2. the tree both the initramfs and the root filesystem start from.
mk_tree() { # DIR VARIANT
  mkdir -p "$1"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,run,tmp,www,lib/modules,newroot,root}
  cp bb/bin/busybox "$1/bin/busybox"
  local p
  for p in $(bb/bin/busybox --list-full); do [[ -e "$1/$p" ]] || ln -s /bin/busybox "$1/$p"; done
  install -m755 "$G/udhcpc.sh" "$1/etc/udhcpc.sh"
  install -m755 "$G/init-stage2" "$1/etc/rustack-init"
  install -D -m755 "$G/poweroff-button" "$1/etc/acpi/PWRF/00000080"
  install -m755 "$G/disk-hotplug" "$1/sbin/disk-hotplug"
  echo 'root::0:0:root:/root:/bin/sh' > "$1/etc/passwd"
  echo 'root:x:0:' > "$1/etc/group"
  # `cirros`, as CirrOS names its user (`ssh cirros@<ip>`): same metadata key as root.
  echo 'cirros:*:1000:1000:cirros:/home/cirros:/bin/sh' >> "$1/etc/passwd"
  echo 'cirros:x:1000:' >> "$1/etc/group"
  mkdir -p "$1/home/cirros"
  echo "$2" > "$1/etc/hostname"
  echo "$2" > "$1/etc/rustack-image"
  mkdir -p "$1/lib/modules/cd"
  local m
  for m in $CDMODS; do cp "$MODDIR/$m" "$1/lib/modules/cd/"; done
}

# 3. initramfs (shared by both variants; stage 2 from the initramfs prints image=initramfs).
mk_tree ir initramfs
rm -f ir/init
install -m755 "$G/init-initramfs" ir/init
for m in $MODS; do cp "$MODDIR/$m" ir/lib/modules/; done
(cd ir && find . | cpio -o -H newc --quiet | gzip -9) > "$OUT/initrd.img"

BOOTLOADER=${BOOTLOADER:-extlinux}
if [[ "$BOOTLOADER" == extlinux ]] && ! losetup -f >/dev/null 2>&1; then
  say "no loop device: using GRUB (slower to boot under TCG)"
  BOOTLOADER=grub
fi
[[ "$BOOTLOADER" == grub ]] && apt_install grub-pc-bin

# 4. one disk per variant.
SIZE_MB=${SIZE_MB:-64}
build_disk() { # VARIANT
  local v=$1 root="rootfs-$1"
  rm -rf "$root" disk.raw part.raw
  mk_tree "$root" "$v"
  rm -f "$root/sbin/init"
  install -m755 "$G/init-stage2" "$root/sbin/init"
  # dropbear and its libraries (the disk only; busybox itself is static).
  install -D -m755 ssh/usr/sbin/dropbear "$root/usr/sbin/dropbear"
  mkdir -p "$root/lib/x86_64-linux-gnu" "$root/lib64" "$root/etc/dropbear"
  local lib
  for lib in libc.so.6 libcrypt.so.1 libtomcrypt.so.1 libtommath.so.1 libgmp.so.10 libz.so.1; do
    cp -L "$(find ssh -name "$lib" | head -1)" "$root/lib/x86_64-linux-gnu/$lib"
  done
  cp -L "$(find ssh -name ld-linux-x86-64.so.2 -path '*x86_64-linux-gnu*' | head -1)" "$root/lib64/ld-linux-x86-64.so.2"
  mkdir -p "$root/boot/extlinux" "$root/boot/grub"
  cp "$OUT/vmlinuz" "$OUT/initrd.img" "$root/boot/"
  cat > "$root/boot/extlinux/extlinux.conf" <<EOC
SERIAL 0 115200
DEFAULT linux
TIMEOUT 0
PROMPT 0
LABEL linux
  LINUX /boot/vmlinuz
  INITRD /boot/initrd.img
  APPEND root=/dev/vda1 console=ttyS0 quiet
EOC
  cat > "$root/boot/grub/grub.cfg" <<EOC
serial --unit=0 --speed=115200
terminal_input serial; terminal_output serial
set timeout=0
menuentry linux {
  linux /boot/vmlinuz root=/dev/vda1 console=ttyS0 quiet
  initrd /boot/initrd.img
}
EOC
  truncate -s "${SIZE_MB}M" disk.raw
  echo 'start=2048, type=83, bootable' | sfdisk -q disk.raw
  truncate -s $(( SIZE_MB * 1024 * 1024 - 2048 * 512 )) part.raw
  # extlinux cannot read a 1 KiB-block ext4 (the default for small filesystems).
  mkfs.ext4 -q -F -b 4096 -L root -d "$root" part.raw
  dd if=part.raw of=disk.raw bs=512 seek=2048 conv=notrunc status=none
  if [[ "$BOOTLOADER" == extlinux ]]; then
    # This host kernel has no MSDOS_PARTITION: mount the partition through an offset.
    LOOP=$(losetup -f --show -o $((2048 * 512)) disk.raw)
    mkdir -p mnt
    mount "$LOOP" mnt
    extlinux --install mnt/boot/extlinux >/dev/null 2>&1
    umount mnt
    losetup -d "$LOOP"
    LOOP=""
    dd if=/usr/lib/EXTLINUX/mbr.bin of=disk.raw bs=440 count=1 conv=notrunc status=none
  else
    grub-mkimage -O i386-pc -o core.img -p '(hd0,msdos1)/boot/grub' \
      biosdisk part_msdos ext2 normal linux serial terminal configfile echo test
    dd if=/usr/lib/grub/i386-pc/boot.img of=disk.raw bs=440 count=1 conv=notrunc status=none
    dd if=core.img of=disk.raw bs=512 seek=1 conv=notrunc status=none
  fi
  qemu-img convert -c -O qcow2 disk.raw "$OUT/$v.qcow2.tmp"
  mv "$OUT/$v.qcow2.tmp" "$OUT/$v.qcow2"
}
build_disk rustack-test
build_disk rustack-test-alt
echo "$STAMP" > "$OUT/.stamp"
t1=$(date +%s.%N)
say "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "built in %.1f s", b-a}'): $OUT/rustack-test.qcow2 $OUT/rustack-test-alt.qcow2 (kernel $KVER, $BOOTLOADER)"
