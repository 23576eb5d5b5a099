#!/bin/sh
# The lab's DHCP client on a board's eth0 (pilab-dhcp.service, `lab up --addressing dhcp`),
# in the foreground under systemd. Boards use three real clients in turn (udhcpc, dhcpcd,
# dhclient) so that the master's DHCP server is exercised by all of them.
set -u
. /run/pilab/board.env
ip link set eth0 up
case "$PILAB_DHCP_CLIENT" in
udhcpc) exec udhcpc -f -i eth0 -x "hostname:$PILAB_NODE" -t 3 -T 1 -S ;;
dhcpcd) exec dhcpcd -4 -B -h "$PILAB_NODE" eth0 ;;
dhclient) exec dhclient -4 -d -pf /run/dhclient.eth0.pid -lf /var/lib/dhcp/dhclient.eth0.leases eth0 ;;
*) echo "pilab: unknown DHCP client $PILAB_DHCP_CLIENT" >&2; exit 1 ;;
esac
