"""A real sshd in a network namespace of the tests' kit, for the SSH connector's tests.

The namespace has only loopback; sshd listens on 127.0.0.1:22 there, with host
keys made for this run and one authorized key. Clients dial from inside the
namespace (hardware.lab.plumbing.connect_in), so nothing touches the host's
network. The kit removes everything, also when a test fails.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hardware.lab import plumbing
from tests.support.netns import NetnsKit


def keygen(path: Path, kind: str = "ed25519") -> str:
    """Make an OpenSSH key pair at `path`; return the public key line."""
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


@dataclass
class Sshd:
    """A running sshd."""

    namespace: str
    """Its network namespace."""
    workdir: Path
    """Its keys and config."""
    process: subprocess.Popen[str]
    """The sshd process (-D: it stays in the foreground)."""
    client_key: Path
    """Private key it authorizes (for root)."""

    def host_key(self, kind: str = "ed25519") -> str:
        """The public host key line of `kind` (type and base64)."""
        text = (self.workdir / f"ssh_host_{kind}_key.pub").read_text().split()
        return f"{text[0]} {text[1]}"

    def fingerprint(self, kind: str = "ed25519") -> str:
        """ssh-keygen's SHA256 fingerprint of that host key."""
        out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f",
                              str(self.workdir / f"ssh_host_{kind}_key.pub")],
                             capture_output=True, text=True, check=True).stdout
        return out.split()[1]

    def dial(self, address: str, port: int, timeout: float) -> socket.socket:
        """Connect from inside the namespace (the connector's `dial`)."""
        return plumbing.connect_in(self.namespace, address, port, timeout)

    def kill_sessions(self) -> None:
        """Kill every sshd session child (the connection drops as in a power cut), keep the listener."""
        for pid in plumbing.namespace_pids(self.namespace):
            if pid != self.process.pid:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


@contextlib.contextmanager
def running_sshd(workdir: Path, key_types: tuple[str, ...] = ("ed25519",)) -> Iterator[Sshd]:
    """sshd on 127.0.0.1:22 in a fresh kit namespace; the kit removes it (processes and namespace) on exit."""
    workdir.mkdir(parents=True, exist_ok=True)
    host_keys = []
    for kind in key_types:
        path = workdir / f"ssh_host_{kind}_key"
        keygen(path, kind)
        host_keys.append(path)
    client = workdir / "client"
    authorized = workdir / "authorized_keys"
    authorized.write_text(keygen(client) + "\n")
    config = workdir / "sshd_config"
    config.write_text("".join([
        "ListenAddress 127.0.0.1\nPort 22\n",
        *(f"HostKey {path}\n" for path in host_keys),
        f"AuthorizedKeysFile {authorized}\n",
        "PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n",
        "StrictModes no\nUsePAM no\nUseDNS no\nPidFile none\nMaxSessions 64\nMaxStartups 64\n",
    ]))
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
    with NetnsKit(workdir / "net") as net:
        namespace = net.ns("sshd")
        process = net.spawn(namespace, ["/usr/sbin/sshd", "-D", "-e", "-f", str(config)],
                            log=workdir / "sshd.log", ready=lambda: plumbing.tcp_listening(namespace, 22),
                            what="sshd listening")
        yield Sshd(namespace, workdir, process.popen, client)
