"""What a flashed card would already hold, put onto running lab boards: the provisioning key and a mirror.

A real worker's image carries the master's provisioning key in the login
user's authorized_keys (`access.ssh_authorized_keys`) and the distribution's
apt mirror. The lab's boards share one cached root instead, so provisioning
tests and the provisioning benchmark call `seed_boards` first: the key is
appended to ~pi/.ssh/authorized_keys (once), and apt points only at the
lab's signed Debian mirror (deb.example.net, served by the internet
namespace), since the real Debian mirror is out of the lab's reach.

Boards booted from cards (`lab up --cards`) get neither from the lab: their card authorises
the key (`appliance image build`), and an image made for the lab carries the lab's mirror
in its root (`mirror_root_files`) as a Pi OS image carries its distribution's.
"""

from __future__ import annotations

import shlex
import subprocess

from foundation.errors import EnvironmentProblem
from hardware.lab import control, topology
from hardware.lab.kubefake.repo.build import CACHE_DIR, DEBIAN_HOST
from hardware.lab.state import LabDirs

LAB_KEYRING = "/usr/share/keyrings/appliance-lab.gpg"
"""Where a board keeps the lab repositories' signing key (dearmored)."""


MIRROR_LIST = "/etc/apt/sources.list.d/appliance-lab.list"
"""The apt source of the lab's mirror on a board."""


def mirror_source() -> str:
    """The one-line apt source of the lab's signed Debian mirror."""
    return f"deb [signed-by={LAB_KEYRING}] http://{DEBIAN_HOST}/debian/ /\n"


def release_key() -> str:
    """The armored key that signs the lab's repositories (built once into the lab cache)."""
    return (CACHE_DIR / "repo" / "Release.key").read_text()


def mirror_root_files() -> dict[str, bytes]:
    """The lab's mirror as files of a root (paths relative to it), replacing the distribution's sources:
    what a base image made for the lab carries (tests/images/base_image.py)."""
    keyring = subprocess.run(["gpg", "--dearmor"], input=release_key().encode(), capture_output=True,
                             check=True).stdout
    return {"etc/apt/sources.list": b"# the lab's mirror: sources.list.d/appliance-lab.list\n",
            MIRROR_LIST.lstrip("/"): mirror_source().encode(), LAB_KEYRING.lstrip("/"): keyring}


def seed_script(public_key: str, release_key: str, user: str = "pi") -> str:
    """The shell run as root on a board: authorize `public_key` for `user`, use only the lab's mirror."""
    home = f"/home/{user}/.ssh"
    keys = f"{home}/authorized_keys"
    source = mirror_source()
    return (
        f"mkdir -p {home} && touch {keys} && "
        f"{{ grep -qxF {shlex.quote(public_key)} {keys} || printf '%s\\n' {shlex.quote(public_key)} >> {keys}; }} && "
        f"chown -R {user}:{user} {home} && chmod 700 {home} && chmod 600 {keys} && "
        "rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*.sources && "
        f"printf '%s' {shlex.quote(release_key)} | gpg --dearmor --yes -o {LAB_KEYRING} && "
        f"printf '%s' {shlex.quote(source)} > {MIRROR_LIST}"
    )


def seed_boards(dirs: LabDirs, boards: list[str], public_key: str) -> None:
    """Seed each board (see the module docstring); EnvironmentProblem naming the board on failure.

    The master board gets no resolver by DHCP (it shares the daemon's namespace and runs no
    DHCP client), so it is pointed at the master's own DNS server, as a real master's is."""
    key = release_key()
    plan = control.running_record(dirs).plan()
    for board in boards:
        script = seed_script(public_key.strip(), key)
        if board == topology.MASTER_BOARD:
            script += f" && printf 'nameserver %s\\n' {plan.master_address.ip} > /etc/resolv.conf"
        done = subprocess.run(control.exec_command(dirs, board, ["sh", "-c", script]), capture_output=True,
                              text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise EnvironmentProblem(f"{board}: seeding the provisioning key and the lab mirror failed: "
                                     f"{done.stderr.strip()[-200:]}; fix: appliance lab up --fresh")
