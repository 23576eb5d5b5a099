#!/bin/sh
# One boot of a lab board, host side: the board's firmware and boot loader. board_power.sh
# runs it as PID 1 of a fresh PID namespace, in new mount, UTS and IPC namespaces, inside the
# board's network namespace, still on the host's files. In three stages (each re-runs this
# script):
#   cgroup  move into the board's own cgroup (emptied first) and a new cgroup namespace,
#           so that the board's systemd sees that cgroup as its root;
#   root    assemble the board's root like firmware + SD card would (the card's root
#           partition, or the cached root read-only with the board's disk on top), with a
#           fresh /run, /tmp and a minimal /dev, /proc and /sys read-only except
#           /proc/sys/net (a board's sysctls are its network namespace's; the kernel's are
#           the host's), then the firmware step (hardware.lab.firmware_boot: first-boot
#           files, the emulated kernel command line, memory cgroup and swap) and its files
#           bound over /proc/cmdline, /proc/cgroups, /proc/swaps, cgroup.controllers;
#   pivot   without CAP_SYS_TIME and CAP_SYS_MODULE (a board must not set the host's clock
#           or load modules into the host's kernel), pivot into the root and exec systemd
#           with the kernel command line as its arguments and container=pilab.
# Everything mounted here lives only in this mount namespace: the host never sees it, and
# it vanishes when the board stops. This guards against accidents, it is not a sandbox: a
# board's root is root on the host.
set -eu
CONF=$1
. "$CONF"

bind_ro() {
    mount --bind "$1" "$2"
    mount -o remount,bind,ro "$2"
}

case ${PILAB_STAGE:-cgroup} in
cgroup)
    # The previous boot's processes are all gone (its PID namespace died), only their
    # empty cgroups are left.
    [ ! -d "$CGROUP" ] || find "$CGROUP" -mindepth 1 -depth -type d -exec rmdir {} + 2>/dev/null || true
    mkdir -p "$CGROUP"
    echo $$ > "$CGROUP/cgroup.procs"
    export PILAB_STAGE=root
    exec unshare --cgroup -- /bin/sh "$0" "$CONF"
    ;;
root)
    mkdir -p "$ROOT"
    if [ "$MODE" = card ]; then
        loop=$(losetup --find --show --offset "$ROOT_OFFSET" --sizelimit "$ROOT_SIZE" "$CARD")
        mount -t ext4 "$loop" "$ROOT" || { losetup --detach "$loop"; exit 1; }
        losetup --detach "$loop"  # lazily: the kernel frees it with the last unmount
    else
        mkdir -p "$DISK/upper" "$DISK/work"
        mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$DISK/upper,workdir=$DISK/work" "$ROOT"
    fi
    mount -t proc -o nosuid,nodev,noexec proc "$ROOT/proc"
    for entry in sys sysrq-trigger irq bus fs; do
        [ ! -e "$ROOT/proc/$entry" ] || bind_ro "$ROOT/proc/$entry" "$ROOT/proc/$entry"
    done
    mount --bind "$ROOT/proc/sys/net" "$ROOT/proc/sys/net"
    mount -o remount,bind,rw "$ROOT/proc/sys/net"
    mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$ROOT/sys"
    mount -t cgroup2 -o nosuid,nodev,noexec cgroup2 "$ROOT/sys/fs/cgroup"
    mount -t tmpfs -o mode=0755,size=64m,nosuid,nodev tmpfs "$ROOT/run"
    mount -t tmpfs -o mode=1777,size=256m,nosuid,nodev tmpfs "$ROOT/tmp"

    # A minimal /dev: the usual character devices, a private devpts for ptys, shared
    # memory, and the console (a log file on the host).
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

    # The lab's own files for this boot (units, settings, the login key) go to the board's
    # /run, so that its disk stays the Pi's.
    cp -a "$FIRMWARE/run/." "$ROOT/run/"
    if [ "$MODE" = card ]; then
        "$PYTHON" -m hardware.lab.firmware_boot --root "$ROOT" --kernel-dir "$KERNEL" --board "$NAME" \
            --cgroup "$CGROUP" --card "$CARD" --boot-offset "$BOOT_OFFSET"
    else
        "$PYTHON" -m hardware.lab.firmware_boot --root "$ROOT" --kernel-dir "$KERNEL" --board "$NAME" \
            --cgroup "$CGROUP"
    fi
    mkdir -p "$ROOT/run/pilab/kernel"
    mount --bind "$KERNEL" "$ROOT/run/pilab/kernel"
    bind_ro "$KERNEL/cmdline" "$ROOT/proc/cmdline"
    bind_ro "$KERNEL/cgroups" "$ROOT/proc/cgroups"
    bind_ro "$KERNEL/swaps" "$ROOT/proc/swaps"
    bind_ro "$KERNEL/cgroup.controllers" "$ROOT/sys/fs/cgroup/cgroup.controllers"
    [ ! -f "$ROOT/usr/sbin/swapoff" ] || bind_ro "$FIRMWARE/swapoff" "$ROOT/usr/sbin/swapoff"
    hostname "$HOSTNAME"
    export PILAB_STAGE=pivot
    exec setpriv --bounding-set "$DROP_CAPS" -- /bin/sh "$0" "$CONF"
    ;;
pivot)
    set --
    while IFS= read -r arg; do set -- "$@" "$arg"; done < "$KERNEL/init-args"
    cd "$ROOT"
    # pivot_root(".", "."): the old root ends up on top of the new one; detaching it
    # leaves the board's root, with no directory made on the board's disk.
    pivot_root . .
    umount -l .
    cd /
    exec /usr/bin/env -i container=pilab TERM=vt220 /lib/systemd/systemd "$@" \
        </dev/console >>/dev/console 2>&1
    ;;
esac
