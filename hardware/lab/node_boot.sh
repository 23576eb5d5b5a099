#!/bin/sh
# A lab board's boot sequence (busybox init's sysinit step), like a Pi's:
# link up, DHCP client, SSH host keys and the lab's login key; then init
# starts sshd (inittab). Settings come from /run/pilab/node.env.
set -u
. /run/pilab/node.env
echo "pilab: booting $PILAB_NODE ($PILAB_ADDRESSING, $PILAB_DHCP_CLIENT)"

echo "$PILAB_NODE" > /etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n' "$PILAB_NODE" > /etc/hosts
ip link set lo up
ip link set eth0 up

case "$PILAB_ADDRESSING" in
static)
    ip addr add "$PILAB_ADDRESS" dev eth0
    ip route add default via "$PILAB_GATEWAY"
    echo "nameserver $PILAB_GATEWAY" > /etc/resolv.conf
    ;;
dhcp)
    case "$PILAB_DHCP_CLIENT" in
    udhcpc) udhcpc -i eth0 -x "hostname:$PILAB_NODE" -b -t 3 -T 1 -S -p /run/udhcpc.eth0.pid ;;
    dhcpcd) dhcpcd -4 -b -h "$PILAB_NODE" eth0 ;;
    dhclient) dhclient -4 -nw -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/dhclient.eth0.leases eth0 ;;
    *) echo "pilab: unknown DHCP client $PILAB_DHCP_CLIENT" ;;
    esac
    ;;
esac

# Host keys are made on first boot and stay on this board's disk.
mkdir -p /run/sshd
chmod 0755 /run/sshd
[ -s /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key

for account in root pi; do
    home=$(getent passwd "$account" | cut -d: -f6)
    [ -n "$home" ] || continue
    mkdir -p "$home/.ssh"
    touch "$home/.ssh/authorized_keys"
    grep -qxF "$(cat /run/pilab/authorized_key)" "$home/.ssh/authorized_keys" \
        || cat /run/pilab/authorized_key >> "$home/.ssh/authorized_keys"
    chmod 0700 "$home/.ssh"
    chmod 0600 "$home/.ssh/authorized_keys"
    chown -R "$account:" "$home/.ssh"
done
echo "pilab: $PILAB_NODE booted"
