#!/bin/sh
# Power-on of one lab board, host side. Runs as PID 1 of the node's fresh PID
# namespace, inside its own mount and UTS namespaces (made by `unshare`) and
# its network namespace (made by `ip netns exec`), still on the host's files.
# It assembles the board's root like firmware + SD card would: the cached
# Debian root read-only below, the board's own disk (upper dir) on top, a
# fresh /run, /proc, /sys and a minimal /dev; then it pivots into that root
# and becomes the board's init (busybox init, which reaps orphans as PID 1).
# Everything mounted here lives only in this mount namespace: the host's
# /proc/mounts never sees it, and it vanishes when the board loses power.
set -eu
NODE=$1      # board name, e.g. pi-1 (also its hostname)
LOWER=$2     # cached Debian root (read-only lower layer)
DISK=$3      # the board's persistent disk: DISK/upper and DISK/work
BOOT=$4      # files for /run/pilab: boot script, inittab, node.env, authorized key
CONSOLE=$5   # file that plays the serial console

ROOT=$BOOT/../root
mkdir -p "$DISK/upper" "$DISK/work" "$ROOT"
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$DISK/upper,workdir=$DISK/work" "$ROOT"
mount -t proc -o nosuid,nodev,noexec proc "$ROOT/proc"
mount -t sysfs -o nosuid,nodev,noexec sysfs "$ROOT/sys"
mount -t tmpfs -o mode=0755,size=64m,nosuid tmpfs "$ROOT/run"
mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs "$ROOT/tmp"

# A minimal /dev: the usual character devices, a private devpts for sshd's
# ptys, shared memory, and the console.
mount -t tmpfs -o mode=0755,size=1m,nosuid tmpfs "$ROOT/dev"
for dev in null zero full random urandom tty; do
    touch "$ROOT/dev/$dev"
    mount --bind "/dev/$dev" "$ROOT/dev/$dev"
done
mkdir -p "$ROOT/dev/pts" "$ROOT/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$ROOT/dev/pts"
ln -s pts/ptmx "$ROOT/dev/ptmx"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/dev/shm"
touch "$ROOT/dev/console"
mount --bind "$CONSOLE" "$ROOT/dev/console"
ln -s /proc/self/fd "$ROOT/dev/fd"
ln -s /proc/self/fd/0 "$ROOT/dev/stdin"
ln -s /proc/self/fd/1 "$ROOT/dev/stdout"
ln -s /proc/self/fd/2 "$ROOT/dev/stderr"

mkdir -p "$ROOT/run/pilab"
cp "$BOOT"/* "$ROOT/run/pilab/"
# busybox init reads /etc/inittab; ours lives in /run/pilab so that the
# lab's boot sequence is part of the "firmware", not of the board's disk.
cp "$BOOT/inittab" "$ROOT/etc/inittab"
hostname "$NODE"

cd "$ROOT"
mkdir -p .pilab-oldroot
pivot_root . .pilab-oldroot
exec /bin/busybox sh -c '
    cd /
    /bin/busybox umount -l /.pilab-oldroot
    /bin/busybox rmdir /.pilab-oldroot
    exec /bin/busybox init
' </dev/console >/dev/console 2>&1
