#!/usr/bin/env bash
# Builds the tiny guest of the real-VM tier (src/test/java/io/qgagateway/vm, .ci/vm/tier,
# docs/ARCHITECTURE.md):
#   OUTDIR/vmlinuz         Debian's kernel
#   OUTDIR/initrd.cpio.gz  busybox, the host's qemu-ga with its libraries, the virtio-serial,
#                          virtio-blk and ext4 modules, and an /init that mounts the data disk
#                          and runs qemu-ga on the org.qemu.guest_agent.0 port, restarting it
#                          when it dies
#   OUTDIR/data.ext4       a 16 MiB ext4 image: attached as a virtio-blk disk, /init mounts it
#                          at /mnt/data, the one real filesystem guest-fsfreeze-freeze freezes
# The guest has no swap, so guest-suspend-disk fails, and it ships two test hooks:
# - /sbin/hwclock is a slow RTC: it says "qga-test: hwclock holds the agent" on the console
#   and sleeps 60 s before doing its work. qemu-ga's guest-set-time runs it and waits, so a
#   set-time is a request the agent holds. (A FIFO does not do: qemu-ga opens files with
#   O_NONBLOCK, so guest-file-open on one returns at once.)
# - /usr/bin/qga-test-kill-agent [DELAY|held] kills qemu-ga with SIGKILL (init restarts it
#   0.5 s later) after DELAY seconds, or with "held" as soon as the slow hwclock runs (up to
#   30 s), and says "qga-test: killing qemu-ga" on the console right before: the tests time
#   the kill from there.
# Idempotent; installs what it needs as root (QEMU, a kernel, busybox, e2fsprogs, cpio).
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
command -v mkfs.ext4 >/dev/null || [ -x /sbin/mkfs.ext4 ] || [ -x /usr/sbin/mkfs.ext4 ] \
  || need+=(e2fsprogs)
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

# virtio-serial, virtio-blk and ext4 (with the crc32c its checksums need, a soft dependency
# modules.dep does not list): the modules, and what they depend on, when not built in
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
for name in virtio_pci virtio_console virtio_blk crc32c_generic ext4; do
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

# test hooks (see the top): kill the agent, and a slow RTC that holds it
cat > "$ROOT/usr/bin/qga-test-kill-agent" <<'SH'
#!/bin/sh
# qga-test-kill-agent [DELAY|held]
if [ "$1" = held ]; then
  i=0
  while [ ! -s /run/qga-test.hwclock.pid ]; do
    i=$((i + 1))
    [ $i -gt 3000 ] && { echo "qga-test: nothing held the agent" > /dev/console; exit 1; }
    sleep 0.01
  done
  holder=$(cat /run/qga-test.hwclock.pid)
else
  sleep "${1:-0}"
fi
pid=$(cat /run/qemu-ga.pid)
echo "qga-test: killing qemu-ga $pid" > /dev/console
kill -KILL "$pid"
# the slow hwclock the dead agent waited for goes too
[ -n "${holder:-}" ] && kill "$holder" 2>/dev/null
rm -f /run/qga-test.hwclock.pid
exit 0
SH
chmod 755 "$ROOT/usr/bin/qga-test-kill-agent"
cat > "$ROOT/sbin/hwclock" <<'SH'
#!/bin/sh
echo $$ > /run/qga-test.hwclock.pid
echo "qga-test: hwclock holds the agent" > /dev/console
sleep 60
rm -f /run/qga-test.hwclock.pid
exec /bin/busybox hwclock "$@"
SH
chmod 755 "$ROOT/sbin/hwclock"

cat > "$ROOT/init" <<'INIT'
#!/bin/sh
export PATH=/sbin:/bin:/usr/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
for m in $(cat /etc/modules.load); do insmod "$m"; done
# the data disk, when a virtio-blk device (virtio id 2) is attached: the filesystem to freeze
for d in /sys/bus/virtio/devices/*; do
  [ "$(cat "$d/device" 2>/dev/null)" = 0x0002 ] || continue
  i=0
  while [ ! -b /dev/vda ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  mkdir -p /mnt/data
  if mount -t ext4 /dev/vda /mnt/data; then
    echo "guest: /dev/vda mounted on /mnt/data"
  else
    echo "guest: cannot mount /dev/vda"
  fi
done
# no swap: guest-suspend-disk must fail
swapoff -a 2>/dev/null
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
  /usr/sbin/qemu-ga -m virtio-serial -p "/dev/$port" -t /tmp/qga &
  echo $! > /run/qemu-ga.pid
  wait $!
  echo "guest: qemu-ga exited ($?), restarting"
  sleep 0.5
done
INIT
chmod 755 "$ROOT/init"

# the data disk: a fresh empty ext4 image each build (the tests attach a copy of it)
MKFS=$(command -v mkfs.ext4 || echo /sbin/mkfs.ext4)
rm -f "$OUT/data.ext4.tmp"
"$MKFS" -q -F -L qga-data "$OUT/data.ext4.tmp" 16M >/dev/null
mv "$OUT/data.ext4.tmp" "$OUT/data.ext4"

cp "/boot/vmlinuz-$KVER" "$OUT/vmlinuz"
(cd "$ROOT" && find . | cpio -o -H newc --quiet | gzip -6) > "$OUT/initrd.cpio.gz.tmp"
mv "$OUT/initrd.cpio.gz.tmp" "$OUT/initrd.cpio.gz"
echo "$KVER" > "$OUT/kernel-release"
# which version of this script built the guest: the tests rebuild a guest of another version
sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1 > "$OUT/build-guest.sha256"
echo "build-guest.sh: $OUT/vmlinuz ($KVER), $OUT/initrd.cpio.gz ($(du -h "$OUT/initrd.cpio.gz" | cut -f1)), $OUT/data.ext4; modules: ${order[*]:-built in}"
