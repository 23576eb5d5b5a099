"""The SSH connector against a real sshd in a namespace: commands, atomic puts, pinning, refusals, retries."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from provisioning.connector import ConnectError
from provisioning.host_keys import PublicKey
from provisioning.ssh import SSHConnector, SSHOptions, key_types_for, retry_delay
from tests.provisioning.sshd import Sshd, keygen, running_sshd

pytestmark = pytest.mark.root


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    with running_sshd(tmp_path / "sshd", key_types=("ed25519", "ecdsa")) as server:
        yield server


def _connector(sshd: Sshd, seen: list[PublicKey] | None = None, **changes: object) -> SSHConnector:
    def check(key: PublicKey) -> None:
        if seen is not None:
            seen.append(key)

    options = SSHOptions(address="127.0.0.1", user="root", key=paramiko.PKey.from_path(sshd.client_key),
                         check_host_key=check, dial=sshd.dial, rng=random.Random(1))
    for name, value in changes.items():
        setattr(options, name, value)
    return SSHConnector("node-1", options)


def test_commands_streams_status_and_stdin(sshd: Sshd) -> None:
    seen: list[PublicKey] = []
    node = _connector(sshd, seen)
    try:
        result = node.run("echo out; echo err >&2; exit 3")
        assert (result.exit_status, result.stdout, result.stderr) == (3, "out\n", "err\n")
        assert node.run("cat | wc -c", stdin=b"x" * 300_000).stdout.strip() == "300000"
        assert node.run("id -un", sudo=True).stdout == "root\n"
        big = node.run("head -c 2000000 /dev/zero | tr '\\0' a; echo tail >&2")
        assert len(big.stdout) == 2_000_000 and big.stderr == "tail\n"
    finally:
        node.close()
    # One connection for all of it: the host key was judged once.
    assert [key.text for key in seen] == [sshd.host_key("ed25519")]
    assert seen[0].fingerprint == sshd.fingerprint("ed25519")


def test_put_is_atomic_with_mode_and_owner_and_get_returns_bytes(sshd: Sshd, tmp_path: Path) -> None:
    target = tmp_path / "put" / "sub dir" / "file.bin"
    data = bytes(range(256)) * 10
    node = _connector(sshd)
    try:
        node.put(data, str(target), mode=0o640, owner="root:root")
        assert target.read_bytes() == data and (target.stat().st_mode & 0o777) == 0o640
        assert node.get(str(target)) == data
        assert not list(target.parent.glob("*.appliance-tmp"))
        with pytest.raises(ConnectError, match=r"^node-1: cannot read /nonexistent: .*No such file"):
            node.get("/nonexistent")
    finally:
        node.close()


@pytest.mark.parametrize("name", ["$(touch INJECTED)", "x'; touch INJECTED; echo '", "`touch INJECTED`",
                                  "a b;touch INJECTED", "-rf", "x\ntouch INJECTED"])
def test_hostile_paths_cannot_inject_commands(sshd: Sshd, tmp_path: Path, name: str) -> None:
    node = _connector(sshd)
    try:
        node.put(b"data", str(tmp_path / name), mode=0o600, owner="root:root")
        assert node.get(str(tmp_path / name)) == b"data"
    finally:
        node.close()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "sshd") == [name]


def test_the_pinned_key_type_is_asked_for_first(sshd: Sshd) -> None:
    assert key_types_for("ssh-rsa")[:3] == ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")
    seen: list[PublicKey] = []
    node = _connector(sshd, seen, pinned_type="ecdsa-sha2-nistp256")
    try:
        node.connect()
    finally:
        node.close()
    assert [key.text for key in seen] == [sshd.host_key("ecdsa")]


def test_a_refused_host_key_stops_before_login_and_is_not_retried(sshd: Sshd) -> None:
    dials = []

    def refuse(key: PublicKey) -> None:
        raise ConnectError("node-1 (127.0.0.1)", f"SSH host key changed (now {key.fingerprint})")

    def dial(address: str, port: int, timeout: float):  # type: ignore[no-untyped-def]
        dials.append(address)
        return sshd.dial(address, port, timeout)

    node = _connector(sshd, check_host_key=refuse, dial=dial)
    with pytest.raises(ConnectError, match=r"^node-1 \(127.0.0.1\): SSH host key changed \(now SHA256:"):
        node.run("true")
    assert dials == ["127.0.0.1"]
    assert "Accepted publickey" not in (sshd.workdir / "sshd.log").read_text()


def test_an_unknown_login_key_is_one_line_with_the_fix(sshd: Sshd, tmp_path: Path) -> None:
    keygen(tmp_path / "stranger")
    node = _connector(sshd, key=paramiko.PKey.from_path(tmp_path / "stranger"), attempts=3)
    with pytest.raises(ConnectError) as caught:
        node.run("true")
    message = str(caught.value)
    assert message.startswith("node-1: root@127.0.0.1 refused the provisioning key;")
    assert "ssh_authorized_keys" in message and "\n" not in message


def test_connect_retries_with_jittered_backoff_then_names_the_host(sshd: Sshd) -> None:
    waits: list[float] = []
    node = _connector(sshd, port=2222, attempts=4, sleep=waits.append)
    with pytest.raises(ConnectError, match=r"^node-1: cannot connect to 127.0.0.1:2222 \(Connection refused\) "
                                           r"after 4 attempts; is it powered on and cabled"):
        node.run("true")
    rng = random.Random(1)
    assert waits == [retry_delay(attempt, rng) for attempt in range(3)]


def test_retry_delay_is_full_jitter_under_a_cap() -> None:
    rng = random.Random(7)
    for attempt in range(12):
        for _ in range(50):
            assert 0.0 <= retry_delay(attempt, rng) <= min(8.0, 0.5 * 2**attempt)


def test_a_command_that_overruns_times_out(sshd: Sshd) -> None:
    node = _connector(sshd)
    try:
        started = time.monotonic()
        result = node.run("echo started; sleep 20", timeout=1.0)
        assert time.monotonic() - started < 5
        assert (result.exit_status, result.stdout, result.stderr) == (-1, "started\n", "timed out after 1 s")
        assert node.run("echo again").stdout == "again\n"  # the connection is still good
    finally:
        node.close()


def test_a_dropped_connection_is_a_connect_error_and_the_next_command_reconnects(sshd: Sshd) -> None:
    node = _connector(sshd)
    try:
        assert node.run("true").ok
        killer = threading.Timer(0.5, sshd.kill_sessions)
        killer.start()
        with pytest.raises(ConnectError, match=r"^node-1: connection lost while running a command"):
            node.run("sleep 20", timeout=15)
        killer.join()
        assert node.run("echo back").stdout == "back\n"
    finally:
        node.close()
