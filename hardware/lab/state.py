"""The lab's own files: where they live, its state record, its SSH key.

Layout under the lab directory (default /var/lib/appliance-lab, or
$APPLIANCE_LAB_DIR):

    disks/pi-N/{upper,work}   each board's "SD card" (kept by `lab down`)
    disks/master-board/       the master board's disk (its root, sshd, systemd)
    disks/master/             the master daemon's cluster.yaml and state dir (on the host's files)
    master-card/cluster.yaml  the master card's cluster.yaml, as `lab up --cards` last read it
    ssh/id_ed25519[.pub]      the lab's login key (root and pi on every board)
    run/                      runtime files; removed by `lab down`
    run/state.json            what `lab up` made (plan parameters, phase)
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import asdict, dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from hardware.lab import topology as t


@dataclass(frozen=True)
class LabDirs:
    """The lab's directories."""

    base: Path
    """Everything of the lab lives below this."""

    @property
    def run(self) -> Path:
        """Runtime files of the running lab (removed by `lab down`)."""
        return self.base / "run"

    @property
    def state_file(self) -> Path:
        """The record of what `lab up` made."""
        return self.run / "state.json"

    @property
    def master(self) -> Path:
        """The master's card: cluster.yaml and the daemon's state dir."""
        return self.base / "disks" / "master"

    @property
    def master_config(self) -> Path:
        """The cluster.yaml the master daemon runs with."""
        return self.master / "cluster.yaml"

    @property
    def master_state(self) -> Path:
        """The master daemon's --state-dir."""
        return self.master / "state"

    @property
    def master_card_config(self) -> Path:
        """The cluster.yaml of the master card of the last `lab up --cards` (hardware.lab.master_card)."""
        return self.base / "master-card" / "cluster.yaml"

    @property
    def key(self) -> Path:
        """The lab's private SSH key."""
        return self.base / "ssh" / "id_ed25519"


def default_dirs() -> LabDirs:
    """The lab directory from $APPLIANCE_LAB_DIR or /var/lib/appliance-lab."""
    return LabDirs(Path(os.environ.get("APPLIANCE_LAB_DIR", "/var/lib/appliance-lab")))


@dataclass(frozen=True)
class LabRecord:
    """What `lab up` made (run/state.json); enough to rebuild the plan."""

    nodes: int
    """Number of boards."""
    addressing: str
    """`dhcp` or `static`."""
    subnet: str
    """The cluster LAN."""
    master_address: str
    """The master's LAN address."""
    lower: str
    """The cached root the boards boot from."""
    phase: str
    """`starting` while `lab up` works, then `running`."""
    started_at: float
    """Unix time `lab up` began."""
    daemon: bool
    """Whether the master daemon was started."""
    web_password: str
    """The demo login of the master's web page."""
    web_port: int | None = None
    """Host port forwarded to the master's web page, if any."""
    cards: str | None = None
    """With `lab up --cards DIR`: the directory of card files the boards boot from."""

    def plan(self) -> t.LabPlan:
        """The topology this record describes."""
        return t.make_plan(self.nodes, addressing=self.addressing, subnet=IPv4Network(self.subnet),
                           master_address=IPv4Address(self.master_address))


def save_record(dirs: LabDirs, record: LabRecord) -> None:
    """Write the state file atomically."""
    dirs.run.mkdir(parents=True, exist_ok=True)
    tmp = dirs.state_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(record), indent=1))
    tmp.replace(dirs.state_file)


def load_record(dirs: LabDirs) -> LabRecord | None:
    """The state file, or None if there is none (or it is unreadable)."""
    try:
        return LabRecord(**json.loads(dirs.state_file.read_text()))
    except (FileNotFoundError, json.JSONDecodeError, TypeError):
        return None


def ensure_key(dirs: LabDirs) -> str:
    """The lab's ed25519 public key, generating the pair once."""
    if not dirs.key.exists():
        dirs.key.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "appliance-lab",
                        "-f", str(dirs.key)], check=True, stdin=subprocess.DEVNULL)
    return dirs.key.with_suffix(".pub").read_text().strip()


def new_web_password() -> str:
    """A random demo password for the lab master's web page."""
    return secrets.token_urlsafe(12)
