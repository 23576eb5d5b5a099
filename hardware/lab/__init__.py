"""The lab: a virtual four-Pi cluster on one Linux box (`appliance lab …`), the demo and the test bed.

Picture (every box is a network namespace named `pilab-*`; the host's own
namespace gets no link, so the lab is sealed):

    pilab-internet (198.51.100.2; DNS .53, HTTP .80)
          │ eth0 ── pilab-wan
    pilab-home (router 192.0.2.1, dnsmasq DHCP, forwarding)
          │ pilab-ap ── wlan0
    pilab-master: the daemon (host filesystem, .venv: `appliance netd run` under a
          │       supervisor) and master-board (own root, systemd, sshd on 10.0.0.1:22)
          │ eth0 ── pilab-master port
    pilab-switch (bridge pilab-br0)
          │ pilab-pi-N ports ── eth0
    pilab-pi-1 … pilab-pi-N (own PID/mount/UTS/IPC/cgroup namespaces, systemd as PID 1
                             like Raspberry Pi OS trixie: sshd, NetworkManager, cloud-init,
                             a real DHCP client; disk = /var/lib/appliance-lab/disks/pi-N,
                             or a card file with `lab up --cards`)

Every board gets a Pi's kernel switches from the lab's firmware (`firmware`):
/proc/cmdline = device-tree bootargs + /boot/firmware/cmdline.txt, the memory
cgroup only with `cgroup_enable=memory`, zram swap from /etc/rpi/swap.conf.
Kubernetes in the lab is simulated (`kubefake`, the one contract fake).

Modules: `topology` (pure names/MACs/addresses), `rootfs` (mmdebstrap root,
cached), `plumbing` (ip batches, setns sockets, /proc), `nodes` (power on/off,
nsenter; with `board_power.sh`, `board_launch.sh` and the scripts the boards
run), `firmware` (the emulated Pi firmware and kernel switches, pure) and
`firmware_boot` (its step at every boot), `cgroups` (each board's cgroup),
`cards` (card files, their loop devices, the root grown to the card), `master_card` (the master
card's installer, played for the daemon), `services` (home, internet,
master processes), `supervise` (the master daemon's supervisor),
`webforward` (host port → master page), `state` (dirs, state record, the lab
key), `master_config` (the master's cluster.yaml), `preflight` (one-line
errors with fixes), `lifecycle` (up/down), `status`, `control`
(exec/link/power/ssh). The tests' handles on the lab live in tests/support/lab.py.
"""
