"""What a card carries of the appliance, rendered as text: the installer, the unit, cluster.yaml.

The payload sits in the boot partition (the FAT the build writes anyway, so
no ext4 tool and no root is needed on the user's machine), under `appliance/`:

    appliance/wheels/          every wheel the appliance needs, for the card's
                               architecture and Python (pip's own wheel included)
    appliance/install.sh       the first-boot installer (below)
    appliance/appliance.service  the systemd unit of the card's role (installed as `unit_name(role)`)
    appliance/cluster.yaml     master only: the cluster's config (secrets-free)
    appliance/ssh/id_ed25519   master only: the provisioning key (images.provisioning_key),
                               moved to /var/lib/appliance/ssh/ by the installer
    appliance/seed.json        what the build seeded (read by `appliance flash`)
    appliance/cards.pub        master only, written by `appliance flash`

The installer makes a venv with the card's own python3 and installs offline
(`pip install --no-index --find-links`). It runs pip from pip's wheel
(`python3 wheels/pip-*.whl/pip`, a documented way to run pip) into a venv made
`--without-pip`, so it works on images without python3-venv or python3-pip.
It is idempotent: a second run finds the unit enabled and changes nothing.
"""

from __future__ import annotations

import re

from foundation.config.model import Config

VENV = "/opt/appliance/venv"
CONFIG_PATH = "/etc/appliance/cluster.yaml"
MASTER_STATE_DIR = "/var/lib/appliance"
AGENT_STATE_DIR = "/var/lib/appliance-agent"
AGENT_API_PORT = 8081
"""netd's agent API port (netd.api.service.AGENT_API_PORT; images may not import netd)."""
DISTRIBUTION = "pi-cluster-appliance"
"""Our distribution's name on the wheel."""


def exec_start(config: Config, role: str) -> str:
    """The command the card's unit runs."""
    if role == "master":
        return f"{VENV}/bin/appliance master run --config {CONFIG_PATH} --state-dir {MASTER_STATE_DIR}"
    master_url = f"http://{config.network.master_address}:{AGENT_API_PORT}"
    return f"{VENV}/bin/appliance agent run --master {master_url} --state-dir {AGENT_STATE_DIR}"


def unit_name(role: str) -> str:
    """The unit's name on the node: the master's daemon is appliance.service; a worker's agent is
    appliance-agent.service, the unit provisioning installs and rewrites for its own copy of the
    agent (provisioning.paths.AGENT_UNIT), so a provisioned worker runs one agent, not two."""
    return "appliance.service" if role == "master" else "appliance-agent.service"


def unit_file(config: Config, role: str) -> str:
    """appliance.service for `role`."""
    what = "master daemon (netd, provisioner, web page)" if role == "master" else "node agent"
    return (
        "[Unit]\n"
        f"Description=Pi cluster appliance: {what}\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        f"ExecStart={exec_start(config, role)}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


INSTALLER = """#!/bin/sh
# Installs the appliance from the wheelhouse next to this script, offline, and enables its unit.
# Usage: install.sh master|worker PAYLOAD_DIR [--no-start]   (run as root at first boot)
set -eu
ROLE=$1
PAYLOAD=$2
START=${3:-}
VENV=%(venv)s
case "$ROLE" in
    master) UNIT=%(master_unit)s ;;
    worker) UNIT=%(worker_unit)s ;;
    *) echo "install.sh: role must be master or worker" >&2; exit 2 ;;
esac
PIP_WHEEL=$(ls "$PAYLOAD"/wheels/pip-*.whl | head -n 1)
if [ ! -x "$VENV/bin/appliance" ]; then
    rm -rf "$VENV"
    python3 -m venv --without-pip "$VENV"
    "$VENV/bin/python" "$PIP_WHEEL/pip" install --quiet --no-index --no-cache-dir \\
        --find-links "$PAYLOAD/wheels" %(distribution)s
fi
mkdir -p /usr/local/bin
ln -sf "$VENV/bin/appliance" /usr/local/bin/appliance
if [ "$ROLE" = master ]; then
    install -d -m 0755 /etc/appliance
    install -m 0644 "$PAYLOAD/cluster.yaml" %(config)s
    install -d -m 0700 %(master_state)s
    if [ -f "$PAYLOAD/cards.pub" ]; then install -m 0644 "$PAYLOAD/cards.pub" %(master_state)s/cards.pub; fi
    # The provisioning key: into the state dir before the daemon first starts (or it would make
    # one no card authorises), then off the boot partition (a FAT, readable by every local user).
    if [ -f "$PAYLOAD/ssh/id_ed25519" ]; then
        install -d -m 0700 %(master_state)s/ssh
        install -m 0600 "$PAYLOAD/ssh/id_ed25519" %(master_state)s/ssh/id_ed25519
        install -m 0644 "$PAYLOAD/ssh/id_ed25519.pub" %(master_state)s/ssh/id_ed25519.pub
        rm -rf "$PAYLOAD/ssh"
    fi
else
    install -d -m 0700 %(agent_state)s
fi
install -D -m 0644 "$PAYLOAD/appliance.service" "/etc/systemd/system/$UNIT"
if command -v systemctl >/dev/null; then
    systemctl daemon-reload || true
    if [ "$START" = --no-start ]; then systemctl enable "$UNIT"; else systemctl enable --now "$UNIT"; fi
else  # a root without systemd (a test root): enable the unit the way systemctl would
    install -d /etc/systemd/system/multi-user.target.wants
    ln -sf "/etc/systemd/system/$UNIT" "/etc/systemd/system/multi-user.target.wants/$UNIT"
fi
# The card's private host keys were in the seed on the boot partition (a FAT, readable by every
# local user): now that cloud-init has installed them, take them out of user-data.
if [ -f "$PAYLOAD/../user-data" ] && grep -q '^ssh_keys:' "$PAYLOAD/../user-data"; then
    python3 - "$PAYLOAD/../user-data" <<'EOF'
import sys, yaml
path = sys.argv[1]
with open(path) as handle:
    document = yaml.safe_load(handle)
document.pop("ssh_keys", None)
with open(path + ".new", "w") as handle:
    handle.write("#cloud-config\\n" + yaml.safe_dump(document, sort_keys=False))
import os
os.replace(path + ".new", path)
EOF
fi
echo "appliance installed ($ROLE): $($VENV/bin/appliance --version)"
"""


def installer_script() -> str:
    """install.sh, the same for every role and mechanism."""
    return INSTALLER % {
        "venv": VENV, "distribution": DISTRIBUTION, "config": CONFIG_PATH,
        "master_state": MASTER_STATE_DIR, "agent_state": AGENT_STATE_DIR,
        "master_unit": unit_name("master"), "worker_unit": unit_name("worker"),
    }


def card_cluster_yaml(text: str, config: Config) -> str:
    """cluster.yaml as the master card carries it: the user's file, with `wifi.psk_file` commented out.

    The passphrase file lives on the user's machine, and its path would not exist on the
    master; the card's Wi-Fi is already set up by network-config.
    """
    line = config.line_of("wifi.psk_file")
    if line is None:
        return text
    lines = text.splitlines(keepends=True)
    index = line - 1
    if 0 <= index < len(lines) and re.match(r"\s*psk_file\s*:", lines[index]):
        indent = lines[index][: len(lines[index]) - len(lines[index].lstrip())]
        lines[index] = (f"{indent}# psk_file: (on the machine that built this card; the Wi-Fi is set up by "
                        "network-config)\n")
    return "".join(lines)
