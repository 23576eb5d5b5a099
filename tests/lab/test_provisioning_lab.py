"""Provisioning on the lab: the master initialised and four workers joined in parallel over real SSH, real
apt and systemd (Kubernetes itself is the lab's contract fake); a power cut fails only that node's job and
the next run resumes it; a second run changes nothing and runs no changing command; reprovisioning; a
changed host key refused; node-controlled text and hostile names never reach a shell; no secret in any log.

The tests share one provisioned cluster (module scope) and run in file order.
"""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from foundation import registry
from foundation.registry import JobState, NodeRole, NodeRow, NodeState
from foundation.registry.nodes import insert_node
from hardware.lab.imaging import seed_boards
from provisioning.node_access import provisioning_key
from tests.support.lab import LabHandle, LabManager

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]

APPLIANCE = str(Path(sys.executable).parent / "appliance")
TOKEN = re.compile(r"\b[a-z0-9]{6}\.[a-z0-9]{16}\b")


def cli(lab: LabHandle, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """`appliance ARGS` in the lab master's namespace, as an admin would type it there."""
    return lab.run("master", [APPLIANCE, *args], check=False, timeout=timeout)


def provision(lab: LabHandle, *args: str) -> dict[str, dict[str, Any]]:
    """`appliance provision ARGS -o json`: the jobs by node."""
    done = cli(lab, "provision", *args, "-o", "json")
    assert done.stdout.startswith("{"), done.stderr
    return {job["node"]: job for job in json.loads(done.stdout)["jobs"]}


def state_dir(lab: LabHandle) -> Path:
    return lab.dirs.master_state


def open_registry(lab: LabHandle) -> sqlite3.Connection:
    return registry.open_registry(state_dir(lab))


def node_of(lab: LabHandle, board: str) -> str:
    """The appliance's name of a board (node-N, in DHCP order)."""
    rows = lab.status()["nodes"]
    return next(row["appliance_name"] for row in rows if row["name"] == board)


def log_lines(lab: LabHandle, job_id: int) -> list[str]:
    conn = open_registry(lab)
    try:
        return [row.line for row in registry.job_log(conn, job_id)]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def cluster(lab_manager: LabManager) -> Iterator[LabHandle]:
    """A fresh lab whose master is provisioned (kubeadm init), workers seeded as a flashed image and approved."""
    lab_manager.suspend()  # fresh boards: another module's lab may have changed them
    lab = lab_manager.ensure_up()
    workers = [f"pi-{n}" for n in range(1, 5)]
    lab.wait_for(lambda: all(node_of(lab, board) for board in workers), timeout=60, what="four leases")
    key = provisioning_key(state_dir(lab))
    seed_boards(lab.dirs, ["master-board", *workers], Path(f"{key}.pub").read_text())
    for board in workers:
        assert cli(lab, "nodes", "approve", node_of(lab, board)).returncode == 0
    jobs = provision(lab, "master")
    assert jobs["master"]["state"] == "succeeded", jobs["master"]["error"]
    yield lab
    lab_manager.suspend()  # the next module gets a fresh lab (these boards are Kubernetes nodes now)


def test_a_power_cut_fails_only_that_job_and_the_next_run_resumes_it(cluster: LabHandle) -> None:
    lab = cluster
    names = [node_of(lab, f"pi-{n}") for n in range(1, 5)]
    victim = node_of(lab, "pi-2")
    command = lab.argv("master", [APPLIANCE, "provision", *names, "-o", "json"])
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def victim_busy() -> bool:
        conn = open_registry(lab)
        try:
            jobs = [job for job in registry.list_jobs(conn, node=victim) if job.state is JobState.RUNNING]
            return bool(jobs) and jobs[0].step >= 8  # past the packages: containerd is being set up
        finally:
            conn.close()

    lab.wait_for(victim_busy, timeout=600, interval=0.2, what=f"{victim}'s job past its package step")
    lab.power("pi-2", "off")
    out, err = run.communicate(timeout=900)
    jobs = {job["node"]: job for job in json.loads(out)["jobs"]}
    assert run.returncode == 1, err
    failed = jobs.pop(victim)
    assert failed["state"] == "failed" and failed["error"].startswith(f"{victim}")
    assert "\n" not in failed["error"] and "powered on and cabled" in failed["error"]
    assert all(job["state"] == "succeeded" and job["changed"] > 5 for job in jobs.values()), jobs
    conn = open_registry(lab)
    try:
        assert registry.require_node(conn, victim).state is NodeState.FAILED
        cut = registry.require_job(conn, failed["job_id"])
        assert cut.state is JobState.FAILED and 8 <= cut.step < cut.steps and cut.error == failed["error"]
    finally:
        conn.close()

    lab.power("pi-2", "on", wait=120)
    (again,) = provision(lab, victim).values()
    assert again["state"] == "succeeded", again["error"]
    assert again["resumed_from"] == failed["job_id"]
    lines = log_lines(lab, again["job_id"])
    assert any(line.startswith(f"resuming job {failed['job_id']}, which stopped at step {cut.step + 1}/")
               for line in lines)

    # Everything in place: a second run changes nothing and runs nothing but its fact reads.
    rerun = provision(lab, *names, "master")
    assert {node: job["changed"] for node, job in rerun.items()} == dict.fromkeys([*names, "master"], 0)
    for job in rerun.values():
        lines = log_lines(lab, job["job_id"])
        assert [line for line in lines if line.startswith("$ ")] == []
        assert lines[-1] == "done: 0 changed"
    views = json.loads(cli(lab, "nodes", "list", "-o", "json").stdout)["nodes"]
    assert {(v["name"], v["state"]) for v in views} == {(name, "joined") for name in [*names, "master"]}
    lab.wait_for(lambda: all(v["ready"] for v in json.loads(cli(lab, "nodes", "list", "-o", "json").stdout)["nodes"]),
                 timeout=60, what="every node Ready")


def test_a_dry_run_on_a_provisioned_node_lists_nothing(cluster: LabHandle) -> None:
    name = node_of(cluster, "pi-1")
    done = cli(cluster, "provision", name, "--dry-run")
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    assert re.fullmatch(rf"{name}: would run \(all, job \d+\):", first)
    assert re.fullmatch(rf"{name}: 0 changed \(all, 19 steps, job \d+\)", second)


def test_reprovision_resets_and_rejoins(cluster: LabHandle) -> None:
    lab = cluster
    name = node_of(lab, "pi-3")
    done = cli(lab, "nodes", "reprovision", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"{name}: reprovisioned")
    conn = open_registry(lab)
    try:
        job = registry.list_jobs(conn, node=name, limit=1)[0]
        assert (job.plan, job.state) == ("reprovision", JobState.SUCCEEDED)
        assert registry.require_node(conn, name).state is NodeState.JOINED
    finally:
        conn.close()
    lines = log_lines(lab, job.id)
    assert f"$ api: cordon and drain {name}" in lines and f"$ api: delete node {name}" in lines
    assert "$ kubeadm reset -f" in lines
    assert any(line.startswith("$ kubeadm join 10.0.0.1:6443 --token <fresh") for line in lines)
    lab.wait_for(lambda: next(v for v in json.loads(cli(lab, "nodes", "list", "-o", "json").stdout)["nodes"]
                              if v["name"] == name)["ready"], timeout=60, what=f"{name} Ready again")


def test_a_changed_host_key_is_refused_until_accepted(cluster: LabHandle) -> None:
    lab = cluster
    name = node_of(lab, "pi-4")
    lab.run("pi-4", "rm -f /etc/ssh/ssh_host_* && ssh-keygen -A -q && systemctl restart ssh")
    new = lab.run("pi-4", "ssh-keygen -l -E sha256 -f /etc/ssh/ssh_host_ed25519_key.pub").stdout.split()[1]
    (job,) = provision(lab, name).values()
    assert job["state"] == "failed"
    assert re.fullmatch(rf"{name} \(10\.0\.0\.\d+\): SSH host key changed \(was SHA256:\S+, now {re.escape(new)}\); "
                        rf"if you re-imaged it, run: appliance nodes accept-key {name}", job["error"]), job["error"]
    assert cli(lab, "nodes", "accept-key", name, "--fingerprint", "SHA256:notit").returncode == 1
    accepted = cli(lab, "nodes", "accept-key", name, "--fingerprint", new)
    assert accepted.returncode == 0 and accepted.stdout == f"{name}: host key {new} pinned\n"
    (job,) = provision(lab, name).values()
    assert (job["state"], job["changed"]) == ("succeeded", 0), job["error"]


def test_node_controlled_text_and_hostile_names_never_reach_a_shell(cluster: LabHandle) -> None:
    lab = cluster
    name = node_of(lab, "pi-1")
    marker = "/tmp/appliance-injected"
    hostile = f"$(touch {marker}) `touch {marker}` ; touch {marker} ' \" \\"
    # What a node says about itself: its hostname file, its OS name, its dhcpcd.conf.
    lab.run("pi-1", "cat > /etc/hostname", input=hostile + "\n")
    release = re.sub(r"(?m)^PRETTY_NAME=.*$", lambda _: f"PRETTY_NAME={hostile}", lab.read_file("pi-1", "/etc/os-release"))
    lab.run("pi-1", "cat > /etc/os-release", input=release)
    lab.run("pi-1", "cat >> /etc/dhcpcd.conf", input=f"hostname\n{hostile}\n")
    (job,) = provision(lab, name).values()
    assert job["state"] == "succeeded", job["error"]
    assert lab.run("pi-1", "cat /etc/hostname").stdout == f"{name}\n"
    assert lab.run("pi-1", f"test -e {marker}", check=False).returncode == 1
    assert not Path(marker).exists()
    # A registry row whose name is not a DNS label (written behind the appliance's back) is refused.
    conn = open_registry(lab)
    try:
        insert_node(conn, NodeRow(name=f"evil;touch {marker}", role=NodeRole.WORKER, mac="02:00:00:00:66:66",
                                  client_id=None, address=None, model=None, state=NodeState.APPROVED,
                                  pod_cidr=None, ssh_host_key=None, hostname=None, first_seen=1.0,
                                  last_seen=1.0, approved_at=1.0))
    finally:
        conn.close()
    done = cli(lab, "provision", "02:00:00:00:66:66")
    assert done.returncode == 2 and "is not a DNS label" in done.stderr
    assert not Path(marker).exists()
    assert cli(lab, "nodes", "forget", "02:00:00:00:66:66").returncode == 0


def test_tokens_and_a_laptop_kubeconfig(cluster: LabHandle, tmp_path: Path) -> None:
    lab = cluster
    made = cli(lab, "tokens", "create", "--ttl", "30m", "--description", "for a laptop")
    assert made.returncode == 0, made.stderr
    join = made.stdout.strip()
    match = re.fullmatch(r"kubeadm join 10\.0\.0\.1:6443 --token ([a-z0-9]{6})\.[a-z0-9]{16} "
                         r"--discovery-token-ca-cert-hash sha256:([0-9a-f]{64})", join)
    assert match, join
    # The pin is the CA's: what the master board's ca.crt gives with openssl (kubeadm's recipe).
    spki = lab.run("master-board", "openssl x509 -pubkey -noout -in /etc/kubernetes/pki/ca.crt | "
                                   "openssl pkey -pubin -outform der | sha256sum").stdout.split()[0]
    assert match.group(2) == spki
    listed = json.loads(cli(lab, "tokens", "list", "-o", "json").stdout)["tokens"]
    mine = [t for t in listed if t["id"] == match.group(1)]
    assert len(mine) == 1 and mine[0]["description"] == "for a laptop"
    assert set(mine[0]) == {"id", "description", "expires", "usages"} and 1700 < mine[0]["expires"] - time.time() <= 1800
    assert cli(lab, "tokens", "revoke", match.group(1)).stdout == f"token {match.group(1)} revoked\n"
    assert match.group(1) not in cli(lab, "tokens", "list").stdout
    assert cli(lab, "tokens", "create", "--ttl", "0").returncode == 2

    out = state_dir(lab) / "laptop.conf"
    done = cli(lab, "kubeconfig", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    uplink = lab.status()["home"]["master_uplink_address"]
    assert f"server: https://{uplink}:6443" in out.read_text()
    # A laptop on the home network: the real kubectl, from the home router's namespace.
    kubectl = str(Path(sys.executable).parent / "kubectl")
    nodes = lab.run("home", [kubectl, "--kubeconfig", str(out), "get", "nodes", "-o", "name"], timeout=60)
    joined = [v["name"] for v in json.loads(cli(lab, "nodes", "list", "-o", "json").stdout)["nodes"]
              if v["state"] == "joined"]
    assert len(joined) == 5 and sorted(nodes.stdout.split()) == sorted(f"node/{name}" for name in joined)


def test_no_secret_reaches_a_log(cluster: LabHandle) -> None:
    lab = cluster
    conn = open_registry(lab)
    try:
        lines = [row[0] for row in conn.execute("SELECT line FROM job_log")]
        errors = [row[0] for row in conn.execute("SELECT error FROM jobs WHERE error IS NOT NULL")]
    finally:
        conn.close()
    text = "\n".join(lines + errors)
    assert any("--token <fresh 15-minute token>" in line for line in lines)  # joins were logged
    assert TOKEN.search(text) is None
    assert "PRIVATE KEY" not in text and "client-key-data" not in text
    for board in ("pi-1", "pi-2", "pi-3", "pi-4"):
        credential = json.loads(lab.run(board, "cat /var/lib/appliance-agent/credential").stdout)["credential"]
        assert credential not in text
    admin = (state_dir(lab) / "kubernetes" / "admin.conf")
    assert oct(admin.stat().st_mode & 0o777) == "0o600"
    # The API's own view: every join token the appliance minted is gone again.
    tokens = json.loads(cli(lab, "tokens", "list", "-o", "json").stdout)["tokens"]
    assert [t for t in tokens if t["description"].startswith("appliance: join")] == []
