"""The provisioning connector over `lab exec` (tests/support/lab_connector.py), against a board."""

from __future__ import annotations

import pytest

from provisioning.connector import ConnectError, Connector
from tests.support.lab import LabHandle
from tests.support.lab_connector import LabConnector

pytestmark = [pytest.mark.lab, pytest.mark.root]


def test_run_gives_status_output_and_takes_stdin(lab: LabHandle) -> None:
    connector: Connector = LabConnector(lab.dirs, "pi-1")
    result = connector.run("echo out; echo err >&2; exit 3")
    assert (result.exit_status, result.stdout, result.stderr, result.ok) == (3, "out\n", "err\n", False)
    assert connector.run("cat", stdin=b"through stdin").stdout == "through stdin"
    # It runs on the board, not on the host: the board's own hostname.
    assert connector.run("hostname").stdout == lab.run("pi-1", "hostname").stdout != lab.run("master", "hostname").stdout
    slow = connector.run("sleep 5", timeout=0.5)
    assert slow.exit_status == -1 and "timed out" in slow.stderr


def test_put_is_atomic_with_mode_and_owner_and_get_gives_the_bytes_back(lab: LabHandle) -> None:
    connector = LabConnector(lab.dirs, "pi-2")
    path = "/var/tmp/lab-connector/deep/file.bin"
    data = bytes(range(256)) * 4  # not UTF-8: it must come back unchanged
    connector.put(data, path, mode=0o600)
    assert connector.get(path) == data
    assert connector.run(f"stat -c '%a %U:%G' {path}").stdout.split() == ["600", "root:root"]
    before = connector.run(f"stat -c %i {path}").stdout
    connector.put(b"second\n", path, mode=0o644, owner="nobody:nogroup")
    # The file landed on the board: read through the board's root from the host, not the connector.
    assert lab.read_file("pi-2", path) == "second\n"
    assert connector.run(f"stat -c '%a %U:%G' {path}").stdout.split() == ["644", "nobody:nogroup"]
    assert connector.run(f"stat -c %i {path}").stdout != before  # a new file renamed over the old
    assert connector.run("ls -A /var/tmp/lab-connector/deep").stdout.split() == ["file.bin"]  # no temp left
    connector.run("rm -rf /var/tmp/lab-connector")


def test_errors_name_the_member_and_what_failed(lab: LabHandle) -> None:
    connector = LabConnector(lab.dirs, "pi-3")
    with pytest.raises(ConnectError, match=r"^pi-3: cannot read /no/such/file: .*No such file"):
        connector.get("/no/such/file")
    with pytest.raises(ConnectError, match=r"^pi-3: cannot write /etc/hostname/x: "):
        connector.put(b"x", "/etc/hostname/x")
    with pytest.raises(ValueError, match="remote paths are absolute"):
        connector.put(b"x", "relative/path")
    with pytest.raises(ConnectError, match=r"^pi-99: no lab member called 'pi-99'"):
        LabConnector(lab.dirs, "pi-99").run("true")
