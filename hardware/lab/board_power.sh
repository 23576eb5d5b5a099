#!/bin/sh
# A lab board's power supply and reset line, host side. `lab power on` (and `lab up`)
# start this inside the board's network namespace; it boots the board (board_launch.sh
# as PID 1 of a fresh PID namespace) and waits. How the board's PID 1 ended says what
# the board's kernel was asked to do (pid_namespaces(7)): killed by SIGHUP = reboot(2)
# RESTART (`reboot`, `systemctl reboot`): the board gets a fresh network namespace, as a
# real reboot loses every address, route and rule, and boots again from the same disk;
# SIGINT = POWER_OFF or HALT: fresh network state, and the board stays off. Anything else
# (a launcher error) ends the loop and leaves the board off. A power cut (`lab power off`)
# SIGKILLs this script together with the board.
# The master board shares the master's network namespace with the daemon (RESET_NETWORK
# is no): its reboot keeps that namespace as it is.
set -u
CONF=$1
. "$CONF"

reset_network() {
    [ "$RESET_NETWORK" = yes ] || return 0
    # Same steps as hardware.lab.nodes.reset_network: the switch port goes first (the
    # kernel deletes a namespace asynchronously), a pulled cable stays pulled.
    plugged=no
    if ip -n "$SWITCH_NS" -o link show "$PORT" 2>/dev/null | grep -q '[<,]UP[,>]'; then
        plugged=yes
    fi
    ip -n "$SWITCH_NS" link del "$PORT" 2>/dev/null
    ip netns del "$NAMESPACE" 2>/dev/null
    ip netns add "$NAMESPACE" &&
    ip -n "$NAMESPACE" link set lo up &&
    ip -n "$SWITCH_NS" link add "$PORT" type veth peer name eth0 netns "$NAMESPACE" address "$MAC" &&
    ip -n "$SWITCH_NS" link set "$PORT" master "$BRIDGE" || return 1
    [ "$plugged" = no ] || ip -n "$SWITCH_NS" link set "$PORT" up
}

echo "pilab: $NAME: power on"
unshare --mount --uts --ipc --pid --fork --propagation private -- /bin/sh "$LAUNCHER" "$CONF"
status=$?
case $status in
129)
    echo "pilab: $NAME: reboot"
    if [ "$RESET_NETWORK" = yes ]; then
        reset_network || { echo "pilab: $NAME: could not renew its network namespace; staying off"; exit 1; }
        # Boot again from inside the new namespace: this script replaces itself there.
        exec nsenter --net="/run/netns/$NAMESPACE" -- /bin/sh "$0" "$CONF"
    fi
    exec /bin/sh "$0" "$CONF"
    ;;
130)
    echo "pilab: $NAME: power off (halt or poweroff from inside)"
    reset_network
    exit 0
    ;;
*)
    echo "pilab: $NAME: stopped (exit status $status); power stays off"
    exit "$status"
    ;;
esac
