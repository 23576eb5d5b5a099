"""The SSH connector: the only module that imports paramiko.

One connection per node, opened on first use and reused for every command,
upload and download of a job. What it guarantees:
- the host key is checked before anything else is sent (`check_host_key`
  raises ConnectError to refuse; the registry-backed policy lives in
  provisioning.host_keys), and the pinned key's type is asked for first, so a
  node that also has other key types is not mistaken for a changed one;
- key authentication only (the provisioning key seeded into the image), no
  agent, no password; a refused key is one line naming user, node and fix;
- commands run as root through `sudo -n` (no tty, no prompt: a sudo that
  wants a password fails at once with a clear line instead of hanging);
- connecting is retried with exponential backoff and full jitter (a node
  that is booting or whose link flaps); authentication and host-key
  refusals are final and not retried;
- a dead peer is noticed: SSH keepalives every few seconds plus
  TCP_USER_TIMEOUT turn a pulled cable or a power cut into ConnectError
  within ~20 s instead of a TCP retransmission timeout of a quarter hour;
- `put` is atomic (temp file in the target's directory + rename) with mode
  and owner, the data going over stdin, never into the command line.
"""

from __future__ import annotations

import random
import select
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# paramiko.config imports invoke (only for `Match exec` lines of ssh_config files, which this
# connector never reads), and that import is a tenth of a second of every command's start.
# A None in sys.modules reads as "not installed", which paramiko handles.
sys.modules.setdefault("invoke", None)  # type: ignore[arg-type]

import paramiko  # noqa: E402

from provisioning.connector import (  # noqa: E402
    DEFAULT_TIMEOUT,
    CommandResult,
    ConnectError,
    atomic_put_command,
    get_command,
    sudo_wrap,
)
from provisioning.host_keys import PublicKey  # noqa: E402

Dial = Callable[[str, int, float], socket.socket]
"""Opens the TCP connection (address, port, timeout); tests dial from inside a namespace."""

HostKeyCheck = Callable[[PublicKey], None]
"""Judges the key a node presented; raises ConnectError to refuse it."""

DEAD_PEER_TIMEOUT_MS = 20_000
"""TCP_USER_TIMEOUT: unacknowledged data older than this kills the connection."""
KEEPALIVE_S = 5
"""Seconds between SSH keepalives (they are what gives TCP_USER_TIMEOUT something to time)."""
PREFERRED_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
                       "ecdsa-sha2-nistp521", "rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")


def tcp_dial(address: str, port: int, timeout: float) -> socket.socket:
    """A plain TCP connection from this machine's own network namespace."""
    return socket.create_connection((address, port), timeout=timeout)


def retry_delay(attempt: int, rng: random.Random, *, base: float = 0.5, cap: float = 8.0) -> float:
    """Seconds to wait before retry number `attempt` (0-based): full jitter over an exponential."""
    return rng.uniform(0.0, min(cap, base * 2**attempt))


def key_types_for(pinned_type: str | None) -> tuple[str, ...]:
    """Host key algorithms to offer, the pinned key's own first (RSA keys are named ssh-rsa)."""
    if pinned_type is None:
        return PREFERRED_KEY_TYPES
    first = ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa") if pinned_type == "ssh-rsa" else (pinned_type,)
    return (*first, *(kind for kind in PREFERRED_KEY_TYPES if kind not in first))


def load_private_key(path: Path) -> paramiko.PKey:
    """The provisioning key (OpenSSH format, any type paramiko reads)."""
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        raise ConnectError("provisioning", f"no SSH key at {path}; the master makes it at first start "
                                           "(appliance master run), or run: appliance provision --help") from None
    except (paramiko.SSHException, ValueError, OSError) as error:
        raise ConnectError("provisioning", f"cannot read the SSH key {path} ({error}); "
                                           "move it aside and restart the master to make a new one") from None


@dataclass
class SSHOptions:
    """How to reach and log in to one node."""

    address: str
    """The node's address."""
    user: str
    """The login user (provisioning.ssh_user); commands run as root through sudo -n."""
    key: paramiko.PKey
    """The provisioning key."""
    check_host_key: HostKeyCheck
    """The pinning policy."""
    pinned_type: str | None = None
    """Type of the pinned host key, if any (asked for first)."""
    port: int = 22
    """sshd's port."""
    dial: Dial = tcp_dial
    """How to open the TCP connection."""
    connect_timeout: float = 10.0
    """Seconds for TCP connect plus the SSH handshake."""
    attempts: int = 4
    """Connection attempts before giving up (only for network errors)."""
    rng: random.Random = field(default_factory=random.Random)
    """Jitter source (seeded in tests)."""
    sleep: Callable[[float], None] = time.sleep
    """How to wait between attempts."""


class _Refused(Exception):
    """A final refusal (host key, authentication): do not retry."""

    def __init__(self, error: ConnectError) -> None:
        super().__init__(str(error))
        self.error = error


class SSHConnector:
    """A Connector over one reused SSH connection (see the module docstring)."""

    def __init__(self, host: str, options: SSHOptions) -> None:
        self.host = host
        self.options = options
        self._transport: paramiko.Transport | None = None

    # -- connection -------------------------------------------------------------------------

    def connect(self) -> None:
        """Open the connection now (it is opened on first use otherwise)."""
        self._connected()

    def _connected(self) -> paramiko.Transport:
        if self._transport is not None and self._transport.is_active():
            return self._transport
        self.close()
        last: Exception | None = None
        for attempt in range(max(1, self.options.attempts)):
            if attempt:
                self.options.sleep(retry_delay(attempt - 1, self.options.rng))
            try:
                self._transport = self._open()
                return self._transport
            except _Refused as refused:
                raise refused.error from None
            except (OSError, EOFError, paramiko.SSHException) as error:
                last = error
        raise ConnectError(self.host, f"cannot connect to {self.options.address}:{self.options.port} "
                                      f"({_describe(last)}) after {self.options.attempts} attempts; "
                                      "is it powered on and cabled? check `appliance nodes list`")

    def _open(self) -> paramiko.Transport:
        opts = self.options
        sock = opts.dial(opts.address, opts.port, opts.connect_timeout)
        try:
            if hasattr(socket, "TCP_USER_TIMEOUT"):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, DEAD_PEER_TIMEOUT_MS)
            transport = paramiko.Transport(sock)
        except BaseException:
            sock.close()
            raise
        try:
            transport.get_security_options().key_types = key_types_for(opts.pinned_type)
            transport.start_client(timeout=opts.connect_timeout)
            server_key = transport.get_remote_server_key()
            try:
                opts.check_host_key(PublicKey(server_key.get_name(), server_key.asbytes()))
            except ConnectError as error:
                raise _Refused(error) from None
            try:
                transport.auth_publickey(opts.user, opts.key)
            except paramiko.AuthenticationException:
                raise _Refused(ConnectError(self.host, (
                    f"{opts.user}@{opts.address} refused the provisioning key; the node's image must "
                    f"authorize it for {opts.user} (access.ssh_authorized_keys gets it when the image "
                    "is built), or add the master's STATE_DIR/ssh/id_ed25519.pub to "
                    f"~{opts.user}/.ssh/authorized_keys"))) from None
            transport.set_keepalive(KEEPALIVE_S)
            return transport
        except BaseException:
            transport.close()
            raise

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # -- the Connector interface ---------------------------------------------------------------

    def run(self, command: str, *, sudo: bool = False, timeout: float = DEFAULT_TIMEOUT,
            stdin: bytes | None = None) -> CommandResult:
        """Run `command` (a shell line) on the node; as root through `sudo -n` when `sudo`."""
        line = sudo_wrap(command) if sudo else command
        transport = self._connected()
        try:
            channel = transport.open_session(timeout=self.options.connect_timeout)
        except (OSError, EOFError, paramiko.SSHException) as error:
            self.close()
            raise ConnectError(self.host, f"connection lost ({_describe(error)}); "
                                          "is it powered on and cabled?") from None
        try:
            result = _exchange(channel, line, stdin, timeout)
            if result.exit_status == -1 and not transport.is_active():
                raise EOFError("the connection closed before the command's exit status came")
            return result
        except (OSError, EOFError, paramiko.SSHException) as error:
            self.close()
            raise ConnectError(self.host, f"connection lost while running a command ({_describe(error)}); "
                                          "is it powered on and cabled?") from None
        finally:
            channel.close()

    def put(self, data: bytes, path: str, *, mode: int = 0o644, owner: str = "root:root") -> None:
        """Write `data` to `path` atomically, with `mode` and `owner` (as root)."""
        result = self.run(atomic_put_command(path, mode, owner), sudo=True, stdin=data)
        if not result.ok:
            raise ConnectError(self.host, f"cannot write {path}: {_first_line(result.stderr)}")

    def get(self, path: str) -> bytes:
        """The content of `path`, read as root."""
        result = self.run(get_command(path), sudo=True)
        if not result.ok:
            raise ConnectError(self.host, f"cannot read {path}: {_first_line(result.stderr)}")
        return result.raw_stdout


def _exchange(channel: paramiko.Channel, line: str, stdin: bytes | None, timeout: float) -> CommandResult:
    """Run one command on an open channel: send stdin, collect both streams, wait for the status."""
    deadline = time.monotonic() + timeout
    channel.exec_command(line)
    if stdin:
        channel.sendall(stdin)
    channel.shutdown_write()
    out: list[bytes] = []
    err: list[bytes] = []
    ready = channel.fileno()  # a pipe paramiko sets when data or EOF arrives
    while True:
        while channel.recv_ready():
            out.append(channel.recv(65536))
        while channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
        drained = not channel.recv_ready() and not channel.recv_stderr_ready()
        if drained and (channel.eof_received or channel.closed):
            break
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return _timed_out(out, timeout)
        select.select([ready], [], [], min(remaining, 1.0))
    remaining = deadline - time.monotonic()
    if not channel.status_event.wait(max(remaining, 0.0)):
        return _timed_out(out, timeout)
    raw = b"".join(out)
    return CommandResult(channel.recv_exit_status(), _decode(raw), _decode(b"".join(err)), raw)


def _timed_out(out: list[bytes], timeout: float) -> CommandResult:
    raw = b"".join(out)
    return CommandResult(-1, _decode(raw), f"timed out after {timeout:.0f} s", raw)


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[-1][:200] if lines else "no error output"


def _describe(error: BaseException | None) -> str:
    if error is None:
        return "no attempt made"
    if isinstance(error, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return " ".join(str(error).split())[:120] or type(error).__name__


def fetch_host_key(address: str, *, port: int = 22, dial: Dial = tcp_dial, timeout: float = 10.0,
                   pinned_type: str | None = None, host: str | None = None) -> PublicKey:
    """The host key a node presents (key exchange only: nothing is authenticated or run)."""
    where = host or address
    try:
        sock = dial(address, port, timeout)
    except OSError as error:
        raise ConnectError(where, f"cannot connect to {address}:{port} ({_describe(error)}); "
                                  "is it powered on and cabled?") from None
    transport = paramiko.Transport(sock)
    try:
        transport.get_security_options().key_types = key_types_for(pinned_type)
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
        return PublicKey(key.get_name(), key.asbytes())
    except (OSError, EOFError, paramiko.SSHException) as error:
        raise ConnectError(where, f"no SSH key exchange with {address}:{port} ({_describe(error)})") from None
    finally:
        transport.close()
