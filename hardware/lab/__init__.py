"""The lab: a virtual four-Pi cluster on one Linux box (`appliance lab …`), the demo and the test bed.

Picture (every box is a network namespace named `pilab-*`; the host's own
namespace gets no link, so the lab is sealed):

    pilab-internet (198.51.100.2; DNS .53, HTTP .80)
          │ eth0 ── pilab-wan
    pilab-home (router 192.0.2.1, dnsmasq DHCP, forwarding)
          │ pilab-ap ── wlan0
    pilab-master (host filesystem, .venv: `appliance netd run` under a supervisor)
          │ eth0 ── pilab-master port
    pilab-switch (bridge pilab-br0)
          │ pilab-pi-N ports ── eth0
    pilab-pi-1 … pilab-pi-N (own PID/mount/UTS namespaces, overlay root, busybox init,
                             DHCP client, sshd; disk = /var/lib/appliance-lab/disks/pi-N)

Modules: `topology` (pure names/MACs/addresses), `rootfs` (mmdebstrap root,
cached), `plumbing` (ip batches, setns sockets, /proc), `nodes` (power on/off,
nsenter), `services` (home, internet, master processes), `supervise` (the
master daemon's supervisor), `webforward` (host port → master page),
`state` (dirs, state record, the lab key), `master_config` (the master's cluster.yaml),
`preflight` (one-line errors with fixes), `lifecycle` (up/down), `status`,
`control` (exec/link/power/ssh). The tests' handles on the lab live in tests/support/lab.py.
"""
