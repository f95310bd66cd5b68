#!/usr/bin/env bash
# Build a tiny, real, bootable guest disk from Debian packages (no mounts, no host kernel install).
#
# Usage: bash tests/integration/tinyguest/build.sh OUTDIR
#   -> OUTDIR/tiny.qcow2  (qcow2, ~15 MiB: vfat + syslinux + Debian cloud kernel + busybox initramfs)
#   -> OUTDIR/tiny.stamp  (sha256 of this script; the build is skipped when it matches)
#
# The guest prints VMGUI-TINY-GUEST-READY on ttyS0, prints a NoCloud seed's meta-data (virtio disk
# /dev/vdb, iso9660) between VMGUI-SEED-BEGIN / VMGUI-SEED-END, keeps reading /dev/vda so block
# stats move, and powers off (after printing VMGUI-TINY-GUEST-POWEROFF) on the ACPI power button,
# so `virsh shutdown` and `virsh reboot` both work. See README.md next to this file.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

SCRIPT="$(readlink -f "${BASH_SOURCE[0]}")"
OUTDIR="$1"
mkdir -p "$OUTDIR"
OUTDIR="$(cd "$OUTDIR" && pwd)"
STAMP_WANT="$(sha256sum "$SCRIPT" | cut -d' ' -f1)"

if [[ -f "$OUTDIR/tiny.qcow2" && -f "$OUTDIR/tiny.stamp" ]] \
    && [[ "$(cat "$OUTDIR/tiny.stamp")" == "$STAMP_WANT" ]]; then
    echo "tinyguest: $OUTDIR/tiny.qcow2 is up to date"
    exit 0
fi

log() { echo "tinyguest: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# Host tools (installed only when missing; never a kernel into the host system)
# ---------------------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        apt-get update -qq
        APT_UPDATED=1
    fi
}

pkg_installed() {
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true)" == "install ok installed" ]]
}

MISSING=()
need_cmd() { # need_cmd COMMAND PACKAGE
    command -v "$1" >/dev/null 2>&1 || MISSING+=("$2")
}
need_cmd cpio cpio
need_cmd gzip gzip
need_cmd xz xz-utils
need_cmd mkfs.vfat dosfstools
need_cmd mcopy mtools
need_cmd syslinux syslinux
need_cmd qemu-img qemu-utils
need_cmd dpkg-deb dpkg
# The initramfs has no libc: busybox must be the static build (package busybox-static).
pkg_installed busybox-static || MISSING+=(busybox-static)
if [[ ${#MISSING[@]} -gt 0 ]]; then
    apt_update_once
    log "installing: ${MISSING[*]}"
    apt-get install -y --no-install-recommends "${MISSING[@]}"
fi
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || { log "no $BUSYBOX after installing busybox-static"; exit 1; }

# ---------------------------------------------------------------------------------------------
# Work dir
# ---------------------------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tinyguest.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"

# ---------------------------------------------------------------------------------------------
# Kernel: the versioned package that linux-image-cloud-amd64 depends on, downloaded and extracted
# ---------------------------------------------------------------------------------------------
resolve_kernel_pkg() {
    apt-cache depends linux-image-cloud-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-cloud-amd64$/ { print $2; exit }'
}
KPKG="$(resolve_kernel_pkg || true)"
if [[ -z $KPKG ]]; then
    apt_update_once
    KPKG="$(resolve_kernel_pkg || true)"
fi
[[ -n $KPKG ]] || { log "cannot resolve the package behind linux-image-cloud-amd64"; exit 1; }
log "kernel package: $KPKG"
mkdir deb kernel
# apt's _apt sandbox user cannot write into our 0700 temp dir: download as root.
(cd deb && apt-get download -q -o APT::Sandbox::User=root "$KPKG")
dpkg-deb -x deb/*.deb kernel
VMLINUZ="$(find kernel/boot -maxdepth 1 -name 'vmlinuz-*' | head -n1)"
[[ -n $VMLINUZ ]] || { log "no vmlinuz in $KPKG"; exit 1; }
KVER="${VMLINUZ##*/vmlinuz-}"
MODDIR="kernel/lib/modules/$KVER"
log "kernel version: $KVER"

# ---------------------------------------------------------------------------------------------
# initramfs
# ---------------------------------------------------------------------------------------------
ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,mnt/seed,tmp,run,var/log,var/run,etc/acpi/PWRF}
mkdir -p "$ROOT/lib/modules"
cp "$BUSYBOX" "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"
while read -r applet; do
    [[ -z $applet || $applet == bin/busybox ]] && continue
    [[ -e "$ROOT/$applet" || -L "$ROOT/$applet" ]] && continue
    ln -s /bin/busybox "$ROOT/$applet"
done < <("$BUSYBOX" --list-full)
[[ -e "$ROOT/bin/sh" ]] || ln -s /bin/busybox "$ROOT/bin/sh"

# Modules in load order (init insmods them in this order and skips absent ones, i.e. built in).
MODULES=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci
    virtio_balloon virtio_blk failover net_failover virtio_net cdrom isofs evdev button)
for mod in "${MODULES[@]}"; do
    src="$(find "$MODDIR" -name "$mod.ko" -o -name "$mod.ko.xz" -o -name "$mod.ko.gz" \
        -o -name "$mod.ko.zst" | head -n1)"
    if [[ -z $src ]]; then
        log "module $mod: not a module in $KVER (built in or absent), skipped"
        continue
    fi
    dst="$ROOT/lib/modules/$mod.ko"
    case "$src" in
        *.ko.xz) xz -dc "$src" >"$dst" ;;
        *.ko.gz) gzip -dc "$src" >"$dst" ;;
        *.ko.zst)
            command -v zstd >/dev/null 2>&1 || {
                apt_update_once
                apt-get install -y --no-install-recommends zstd
            }
            zstd -qdc "$src" >"$dst"
            ;;
        *) cp "$src" "$dst" ;;
    esac
done
printf '%s\n' "${MODULES[@]}" >"$ROOT/etc/modules.order"

# busybox acpid: EV_KEY KEY_POWER (value 1) -> action PWRF/00000080 -> runs /etc/acpi/PWRF/00000080
cat >"$ROOT/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
echo VMGUI-TINY-GUEST-POWEROFF >/dev/ttyS0
sync
poweroff -f
EOF
chmod 0755 "$ROOT/etc/acpi/PWRF/00000080"

cat >"$ROOT/init" <<'EOF'
#!/bin/sh
# vmgui tiny guest: PID 1 of an initramfs built by tests/integration/tinyguest/build.sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

# Order matters (no modprobe/depmod here); modules absent from the list's kernel are skipped.
while read -r mod; do
    if [ -f "/lib/modules/$mod.ko" ]; then
        insmod "/lib/modules/$mod.ko" 2>/dev/null || echo "tinyguest: insmod $mod failed"
    fi
done </etc/modules.order

# Wait (briefly) for the devices the drivers create.
wait_for() {
    i=0
    while [ ! -e "$1" ] && [ "$i" -lt 30 ]; do
        sleep 0.1
        i=$((i + 1))
    done
}
echo "tinyguest: modules loaded at $(cut -d' ' -f1 /proc/uptime) s" >/dev/ttyS0
wait_for /dev/vda
wait_for /dev/input/event0
echo "tinyguest: devices at $(cut -d' ' -f1 /proc/uptime) s:" /dev/vd* /dev/input/event* >/dev/ttyS0

# ACPI power button -> poweroff -f (virsh shutdown / virsh reboot in ACPI mode). acpid writes its
# pid file only after opening /dev/input/event*, so once it exists the button is handled.
if [ -e /dev/input/event0 ]; then
    acpid -d -c /etc/acpi -p /run/acpid.pid >/dev/null 2>&1 &
    wait_for /run/acpid.pid
fi
[ -e /run/acpid.pid ] || echo "tinyguest: WARNING no acpid, the power button is ignored" >/dev/ttyS0

# Keep block stats moving: direct reads of the boot disk.
if [ -b /dev/vda ]; then
    (while true; do
        dd if=/dev/vda of=/dev/null bs=64k count=64 iflag=direct 2>/dev/null
        sleep 2
    done) &
fi

# NoCloud seed (iso9660, label cidata) on the second virtio disk.
if [ -b /dev/vdb ] && mount -t iso9660 -o ro /dev/vdb /mnt/seed 2>/dev/null; then
    {
        echo VMGUI-SEED-BEGIN
        cat /mnt/seed/meta-data
        # end the last line if meta-data has no final newline
        [ -z "$(tail -c 1 /mnt/seed/meta-data)" ] || echo
        echo VMGUI-SEED-END
    } >/dev/ttyS0
fi

echo "tinyguest: uptime $(cut -d' ' -f1 /proc/uptime) s, modules: $(lsmod | wc -l)" >/dev/ttyS0
echo VMGUI-TINY-GUEST-READY >/dev/ttyS0

while true; do
    sleep 3600
done
EOF
chmod 0755 "$ROOT/init"

(cd "$ROOT" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) \
    | gzip -9n >initrd.gz

# ---------------------------------------------------------------------------------------------
# Disk: vfat with syslinux, booted by SeaBIOS
# ---------------------------------------------------------------------------------------------
cat >syslinux.cfg <<'EOF'
DEFAULT linux
PROMPT 0
TIMEOUT 1
LABEL linux
  LINUX vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0 quiet
EOF
cp "$VMLINUZ" vmlinuz
mkfs.vfat -n TINYGUEST -C disk.img 32768 >/dev/null
syslinux --install disk.img
mcopy -i disk.img vmlinuz initrd.gz syslinux.cfg ::/
qemu-img convert -q -f raw -O qcow2 disk.img tiny.qcow2

mv -f tiny.qcow2 "$OUTDIR/tiny.qcow2"
echo "$STAMP_WANT" >"$OUTDIR/tiny.stamp"
log "built $OUTDIR/tiny.qcow2 ($(du -k "$OUTDIR/tiny.qcow2" | cut -f1) KiB, kernel $KVER)"
