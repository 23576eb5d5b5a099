"""The default way to reach a node: SSH with the master's provisioning key and the registry's host-key pins.

The provisioning key is `STATE_DIR/ssh/id_ed25519` (made at first use if
missing, mode 0600; its `.pub` goes into the images' `ssh_authorized_keys`
for `provisioning.ssh_user`). Host keys are judged by provisioning.host_keys'
policy against the registry; an accepted new key is pinned in the same
registry, so the next connection only accepts that key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from foundation import registry
from foundation.config.model import Config
from foundation.registry import HostKeySource, NodeRow
from provisioning import host_keys
from provisioning.connector import ConnectError, Connector
from provisioning.execute import write_private
from provisioning.host_keys import PublicKey
from provisioning.ssh import (
    Dial,
    SSHConnector,
    SSHOptions,
    fetch_host_key,
    load_private_key,
    tcp_dial,
)

KEY_FILE = Path("ssh") / "id_ed25519"
"""The provisioning key, under the master's state directory."""


def provisioning_key(state_dir: Path) -> Path:
    """The provisioning key's path, made now (Ed25519, OpenSSH format) when it does not exist."""
    path = Path(state_dir) / KEY_FILE
    if not path.exists():
        key = Ed25519PrivateKey.generate()
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption())
        public = key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH)
        write_private(path, private)
        write_private(path.with_name(path.name + ".pub"), public + b" appliance-provisioning\n")
        path.with_name(path.name + ".pub").chmod(0o644)
    return path


def host_key_policy(config: Config) -> str:
    """`provisioning.host_keys` (auto when the config predates the key)."""
    return config.provisioning.host_keys


class RegistryHostKeys:
    """Judges and pins one node's host key in the registry (opens its own connection per check)."""

    def __init__(self, state_dir: Path, node: str, address: str, policy: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.state_dir = state_dir
        self.node = node
        self.where = f"{node} ({address})"
        self.policy = policy
        self.clock = clock

    def pinned_type(self) -> str | None:
        """Type of the key pinned now, if any."""
        conn = registry.open_registry(self.state_dir)
        try:
            pinned = registry.pinned_host_key(conn, self.node)
        finally:
            conn.close()
        return pinned.key.split(" ", 1)[0] if pinned else None

    def __call__(self, presented: PublicKey) -> None:
        conn = registry.open_registry(self.state_dir)
        try:
            verdict = host_keys.judge(
                self.node, self.where, presented,
                pinned=registry.pinned_host_key(conn, self.node),
                known=registry.get_host_key(conn, presented.text),
                policy=self.policy, card_keys_known=registry.count_card_keys(conn))
            if not verdict.accept:
                raise ConnectError(self.where, verdict.message.removeprefix(f"{self.where}: "))
            if verdict.pin is not None:
                registry.pin_host_key(conn, self.node, presented.text, presented.fingerprint,
                                      source=verdict.pin, now=self.clock())
        finally:
            conn.close()


def ssh_factory(config: Config, state_dir: Path, *, dial: Dial = tcp_dial,
                attempts: int = 4) -> Callable[[NodeRow], Connector]:
    """The Runner's default ConnectorFactory."""
    key = load_private_key(provisioning_key(state_dir))
    policy = host_key_policy(config)

    def connect(node: NodeRow) -> Connector:
        if node.address is None:
            raise ConnectError(node.name, "has no address (no DHCP lease); is it powered on and cabled?")
        address = str(node.address)
        checker = RegistryHostKeys(Path(state_dir), node.name, address, policy)
        return SSHConnector(node.name, SSHOptions(
            address=address, user=config.provisioning.ssh_user, key=key, check_host_key=checker,
            pinned_type=checker.pinned_type(), dial=dial, attempts=attempts))

    return connect


def accept_host_key(config: Config, state_dir: Path, node: NodeRow, fingerprint: str | None, *,
                    now: float, dial: Dial = tcp_dial) -> str:
    """Pin the key `node` presents now (source manual), e.g. after its card was re-imaged.

    With `fingerprint` (read from the node's console: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub)
    the key is pinned only if it matches, which rules out a machine in the middle."""
    if node.address is None:
        raise ConnectError(node.name, "has no address (no DHCP lease); is it powered on and cabled?")
    conn = registry.open_registry(state_dir)
    try:
        pinned = registry.pinned_host_key(conn, node.name)
        presented = fetch_host_key(str(node.address), dial=dial, host=f"{node.name} ({node.address})",
                                   pinned_type=pinned.key.split(" ", 1)[0] if pinned else None)
        if fingerprint is not None and fingerprint.strip() != presented.fingerprint:
            raise ConnectError(f"{node.name} ({node.address})",
                               f"presents {presented.fingerprint}, not {fingerprint.strip()}; "
                               "nothing was pinned — check the fingerprint on the node's console")
        registry.pin_host_key(conn, node.name, presented.text, presented.fingerprint,
                              source=HostKeySource.MANUAL, now=now)
    finally:
        conn.close()
    return presented.fingerprint
