#!/usr/bin/env bash
# Builds a tiny guest for the on-demand VM test (VirtioSerialVmTest, docs/ARCHITECTURE.md):
# OUTDIR/vmlinuz (Debian's kernel) and OUTDIR/initrd.cpio.gz (busybox, the host's qemu-ga
# with its libraries, the virtio modules, and an /init that runs qemu-ga on the
# org.qemu.guest_agent.0 virtio-serial port). Idempotent; installs what it needs as root.
# Not part of CI: it installs a kernel and QEMU.
set -euo pipefail

OUT=${1:?usage: build-guest.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
ls /boot/vmlinuz-* >/dev/null 2>&1 || need+=(linux-image-amd64)
[ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && ! ldd /bin/busybox >/dev/null 2>&1 \
  || need+=(busybox-static)
[ -x /usr/sbin/qemu-ga ] || need+=(qemu-guest-agent)
command -v cpio >/dev/null || need+=(cpio)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "build-guest.sh: missing ${need[*]}; run as root to install them" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${need[@]}"; then
    apt-get update
    apt-get install -y --no-install-recommends "${need[@]}"
  fi
fi

# the newest installed kernel that has its modules
KVER=
for k in $(ls /boot/vmlinuz-* | sed 's|/boot/vmlinuz-||' | sort -V); do
  [ -f "/lib/modules/$k/modules.dep" ] && KVER=$k
done
[ -n "$KVER" ] || { echo "build-guest.sh: no kernel with modules under /boot" >&2; exit 1; }
MODDIR=/lib/modules/$KVER

ROOT=$(mktemp -d)
trap 'rm -rf "$ROOT"' EXIT
mkdir -p "$ROOT"/{bin,sbin,etc,proc,sys,dev,tmp,run,var/run,var/lib,usr/bin,usr/sbin,modules}

# busybox (static) and its applets
cp /bin/busybox "$ROOT/bin/busybox"
for applet in $("$ROOT/bin/busybox" --list); do
  [ -e "$ROOT/bin/$applet" ] || ln -s busybox "$ROOT/bin/$applet"
done

# qemu-ga, its libraries and the dynamic loader, at the paths ldd names
cp /usr/sbin/qemu-ga "$ROOT/usr/sbin/qemu-ga"
for lib in $(ldd /usr/sbin/qemu-ga | grep -o '/[^ ]*'); do
  mkdir -p "$ROOT$(dirname "$lib")"
  cp -L "$lib" "$ROOT$lib"
done

# virtio-serial: the modules (and what they depend on) when they are not built in
declare -A seen=()
order=()
resolve() {
  local m=$1 deps d
  [ -n "${seen[$m]:-}" ] && return
  seen[$m]=1
  deps=$(grep "^$m:" "$MODDIR/modules.dep" | cut -d: -f2)
  for d in $deps; do resolve "$d"; done
  order+=("$m")
}
for name in virtio_pci virtio_console; do
  path=$(grep -E "/$name\.ko(\.xz|\.zst|\.gz)?:" "$MODDIR/modules.dep" | cut -d: -f1 || true)
  if [ -n "$path" ]; then
    resolve "$path"
  elif ! grep -q "/$name\.ko" "$MODDIR/modules.builtin"; then
    echo "build-guest.sh: $name is neither a module nor built into $KVER" >&2
    exit 1
  fi
done
: > "$ROOT/etc/modules.load"
for m in "${order[@]}"; do
  base=$(basename "$m")
  case "$base" in
    *.ko.xz) xz -dc "$MODDIR/$m" > "$ROOT/modules/${base%.xz}"; base=${base%.xz} ;;
    *.ko.zst) zstd -dcq "$MODDIR/$m" > "$ROOT/modules/${base%.zst}"; base=${base%.zst} ;;
    *.ko.gz) gzip -dc "$MODDIR/$m" > "$ROOT/modules/${base%.gz}"; base=${base%.gz} ;;
    *) cp "$MODDIR/$m" "$ROOT/modules/$base" ;;
  esac
  echo "/modules/$base" >> "$ROOT/etc/modules.load"
done

cat > "$ROOT/etc/os-release" <<'OS'
PRETTY_NAME="qga-gateway test guest"
NAME="qga-gateway test guest"
ID=qga-test
VERSION_ID="1"
OS
echo "root:x:0:0:root:/root:/bin/sh" > "$ROOT/etc/passwd"
echo "root:x:0:" > "$ROOT/etc/group"

# qemu-ga's guest-shutdown runs /sbin/shutdown -h -P +0 ...; answer at once, power off shortly
cat > "$ROOT/sbin/shutdown" <<'SH'
#!/bin/sh
case " $* " in
  *" -r "*) (sleep 0.3; sync; reboot -f) >/dev/null 2>&1 & ;;
  *) (sleep 0.3; sync; poweroff -f) >/dev/null 2>&1 & ;;
esac
exit 0
SH
chmod 755 "$ROOT/sbin/shutdown"
for p in poweroff halt reboot; do ln -sf ../bin/busybox "$ROOT/sbin/$p"; done

cat > "$ROOT/init" <<'INIT'
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
for m in $(cat /etc/modules.load); do insmod "$m"; done
port=
i=0
while [ -z "$port" ]; do
  for n in /sys/class/virtio-ports/*/name; do
    [ -f "$n" ] && [ "$(cat "$n")" = org.qemu.guest_agent.0 ] && port=$(basename "$(dirname "$n")")
  done
  [ -n "$port" ] && [ -e "/dev/$port" ] && break
  port=
  i=$((i + 1))
  if [ $i -gt 300 ]; then echo "guest: no org.qemu.guest_agent.0 port"; poweroff -f; fi
  sleep 0.1
done
echo "guest: qemu-ga on /dev/$port"
mkdir -p /tmp/qga
while true; do
  /usr/sbin/qemu-ga -m virtio-serial -p "/dev/$port" -t /tmp/qga
  echo "guest: qemu-ga exited ($?), restarting"
  sleep 0.5
done
INIT
chmod 755 "$ROOT/init"

cp "/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -6) > "$OUT/initrd.cpio.gz.tmp"
mv "$OUT/initrd.cpio.gz.tmp" "$OUT/initrd.cpio.gz"
echo "$KVER" > "$OUT/kernel-release"
echo "build-guest.sh: $OUT/vmlinuz ($KVER) and $OUT/initrd.cpio.gz ($(du -h "$OUT/initrd.cpio.gz" | cut -f1)); modules: ${order[*]:-built in}"
