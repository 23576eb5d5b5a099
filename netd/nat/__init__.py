"""NAT of the cluster LAN to the uplink: the pure nftables ruleset and the netd service that applies it."""
