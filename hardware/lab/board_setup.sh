#!/bin/sh
# The lab's own duties at every boot of a board, run inside it by pilab-board.service
# (which the lab's firmware puts in /run/systemd/system, so the board's disk stays the
# Pi's): its name at first boot, the lab's login key for root and pi, an SSH host key when
# it has none, and fixed addresses with `lab up --addressing static`. DHCP addressing is
# pilab-dhcp.service; the master board takes no address (the daemon owns the master's
# network namespace). Settings come from /run/pilab/board.env.
set -u
. /run/pilab/board.env

# First boot: the board's name, kept on its disk from then on (as a Pi's customised name).
if [ ! -s /etc/hostname ]; then
    echo "$PILAB_HOSTNAME" > /etc/hostname
    hostname "$PILAB_HOSTNAME"
    grep -q "^127.0.1.1" /etc/hosts 2>/dev/null || printf '127.0.1.1\t%s\n' "$PILAB_HOSTNAME" >> /etc/hosts
fi

# Host keys are made on first boot and stay on this board's disk (ed25519 only: fast, and
# what the lab's SSH clients use).
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key

for account in root pi; do
    home=$(getent passwd "$account" | cut -d: -f6)
    [ -n "$home" ] && [ -d "$home" ] || continue
    mkdir -p "$home/.ssh"
    touch "$home/.ssh/authorized_keys"
    grep -qxF "$(cat /run/pilab/authorized_key)" "$home/.ssh/authorized_keys" \
        || cat /run/pilab/authorized_key >> "$home/.ssh/authorized_keys"
    chmod 0700 "$home/.ssh"
    chmod 0600 "$home/.ssh/authorized_keys"
    chown -R "$account:" "$home/.ssh"
done

if [ "$PILAB_ADDRESSING" = static ]; then
    ip link set eth0 up
    ip addr replace "$PILAB_ADDRESS" dev eth0
    ip route replace default via "$PILAB_GATEWAY"
    echo "nameserver $PILAB_GATEWAY" > /etc/resolv.conf
fi
echo "pilab: $PILAB_NODE set up ($PILAB_ADDRESSING addressing)"
