"""The master's commands without a daemon (DirectClient over a state directory): JSON shapes, one-line errors
with the right exit codes, and the refusals that protect nodes."""

from __future__ import annotations

import json
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest
from click.testing import CliRunner

from appliance.cli.main import cli
from appliance.cli.tokens_cmd import parse_ttl
from foundation import registry
from foundation.config import default_config_text
from foundation.errors import UsageError
from foundation.registry import NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node


@pytest.fixture
def master(tmp_path: Path) -> tuple[Path, Path]:
    """A state dir with the master and two workers, and the default cluster.yaml."""
    state = tmp_path / "state"
    state.mkdir()
    conn = registry.open_registry(state)
    for name, role, state_, address in (("master", NodeRole.MASTER, NodeState.JOINED, "10.0.0.1"),
                                        ("node-1", NodeRole.WORKER, NodeState.DISCOVERED, "10.0.0.11"),
                                        ("node-2", NodeRole.WORKER, NodeState.APPROVED, None)):
        insert_node(conn, NodeRow(
            name=name, role=role, mac=None if role is NodeRole.MASTER else f"b8:27:eb:00:00:0{name[-1]}",
            client_id=None, address=IPv4Address(address) if address else None, model=None, state=state_,
            pod_cidr=IPv4Network("10.244.1.0/24") if name == "node-1" else None, ssh_host_key=None,
            hostname=None, first_seen=1.0, last_seen=2.0, approved_at=None))
    conn.close()
    config = tmp_path / "cluster.yaml"
    config.write_text(default_config_text())
    return state, config


def run(master: tuple[Path, Path], *args: str) -> tuple[int, str, str]:
    state, config = master
    result = CliRunner().invoke(cli, [*args, "--state-dir", str(state), "--config", str(config)])
    return result.exit_code, result.stdout, result.stderr


def test_nodes_list_json_has_the_contract_keys(master: tuple[Path, Path]) -> None:
    code, out, _ = run(master, "nodes", "list", "-o", "json")
    assert code == 0
    rows = json.loads(out)["nodes"]
    assert [row["name"] for row in rows] == ["master", "node-1", "node-2"]
    for row in rows:
        assert {"name", "mac", "address", "model", "state", "pod_cidr", "last_seen"} <= set(row)
    assert rows[1] | {} == rows[1] and rows[1]["pod_cidr"] == "10.244.1.0/24" and rows[1]["ready"] is None
    code, out, _ = run(master, "nodes", "list")
    assert code == 0 and out.splitlines()[0].split()[:4] == ["NAME", "MAC", "ADDRESS", "STATE"]


def test_approve_by_mac_and_unknown_nodes_are_bad_input(master: tuple[Path, Path]) -> None:
    assert run(master, "nodes", "approve", "B8:27:EB:00:00:01")[:2] == (0, "node-1: approved\n")
    assert run(master, "nodes", "approve", "node-1")[:2] == (0, "node-1: approved\n")  # again: a no-op
    code, _, err = run(master, "nodes", "approve", "node-9")
    assert code == 2 and err == "error: no node named 'node-9' (nor with that MAC or address); see: appliance nodes list\n"


def test_provision_refuses_what_it_must_not_touch(master: tuple[Path, Path]) -> None:
    code, _, err = run(master, "provision", "node-1")
    assert code == 2 and err == ("error: node-1 is discovered but not approved; approve it first: "
                                 "appliance nodes approve node-1\n")
    code, _, err = run(master, "provision", "master", "--plan", "reset")
    assert code == 2 and "resetting the master would end the cluster" in err
    code, _, err = run(master, "provision", "node-1", "--plan", "bogus")
    assert code == 2 and "Invalid value for '--plan'" in err
    code, _, err = run(master, "provision", "ghost")
    assert code == 2 and "no node named 'ghost'" in err


def test_provision_of_a_node_without_address_fails_alone_with_one_line(master: tuple[Path, Path]) -> None:
    code, out, _ = run(master, "provision", "node-2", "-o", "json")
    assert code == 1
    (job,) = json.loads(out)["jobs"]
    assert (job["node"], job["state"], job["changed"]) == ("node-2", "failed", 0)
    assert job["error"] == "node-2 has no address (no DHCP lease); is it powered on and cabled?"
    conn = registry.open_registry(master[0])
    try:
        assert registry.require_node(conn, "node-2").state is NodeState.FAILED
        row = registry.require_job(conn, job["job_id"])
        assert (row.state.value, row.error, row.owner is not None) == ("failed", job["error"], True)
        lines = [line.line for line in registry.job_log(conn, job["job_id"])]
        assert lines[0] == "job 1: plan all on node-2 (no address), 19 steps"
        assert lines[-1].startswith("failed at step 1/19 (architecture): node-2 has no address")
    finally:
        conn.close()


def test_kube_commands_before_init_say_how_to_init(master: tuple[Path, Path]) -> None:
    for args in (("tokens", "list"), ("tokens", "create"), ("tokens", "revoke", "abcdef"), ("kubeconfig",)):
        code, _, err = run(master, *args)
        assert code == 1 and err.startswith("error: ") and "appliance provision MASTER" in err, args
        assert err.count("\n") == 1


def test_ttl_parsing() -> None:
    assert parse_ttl("30m") == 1800 and parse_ttl("1h30m") == 5400 and parse_ttl("1d") == 86400
    for bad in ("0", "0s", "25h", "2 hours", "", "-1h"):
        with pytest.raises(UsageError):
            parse_ttl(bad)


def test_a_state_dir_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["nodes", "list", "--state-dir", str(tmp_path / "nope")])
    assert result.exit_code == 1 and "does not exist — create it or pass --state-dir" in result.stderr


def test_progress_board_draws_one_line_per_job_on_a_terminal() -> None:
    import io

    from appliance.cli.progress import ProgressBoard
    from provisioning.runner import JobProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    board = ProgressBoard(screen)
    board(JobProgress(1, "node-1", "all", 3, 19, "reboot", 2, "running"))
    board(JobProgress(2, "node-2", "all", 0, 19, "architecture", 0, "running"))
    board(JobProgress(1, "node-1", "all", 19, 19, "pod-cidr", 9, "succeeded"))
    frames = screen.getvalue()
    assert frames.count("\x1b[2F") == 1  # redrawn over its two lines
    last = frames.rsplit("\x1b[2F", 1)[1]
    assert [line.split() for line in last.replace("\x1b[2K", "").splitlines()] == [
        ["node-1", "succeeded", "9", "changed"], ["node-2", "step", "1/19", "architecture", "0", "changed"]]
    quiet = io.StringIO()
    ProgressBoard(quiet)(JobProgress(1, "node-1", "all", 3, 19, "reboot", 2, "running"))
    assert quiet.getvalue() == ""  # off a terminal nothing is drawn
