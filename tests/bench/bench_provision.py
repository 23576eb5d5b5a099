"""Provisioning benchmark: the appliance's runner against Ansible, the same steps on the same lab boards, one run.

    sudo .venv/bin/python -m tests.bench.bench_provision [--nodes 4] [--plans prepare,kubernetes]

For each tool, on fresh boards (`lab up --fresh`, the boards seeded with the
provisioning key and the lab's Debian mirror as an image would be):
1. first run of the plans on every node at once (packages installed from the lab's mirrors),
2. re-run (idempotent: nothing left to change),
timed from the command's start to its exit, in the master's namespace, like a user
typing it. Ansible gets `tests/bench/provision_playbook.yml` (the same steps, the same
files rendered by the appliance's own code), forks = nodes, pipelining and SSH
ControlPersist on (its fastest usual settings), gather_subset min.

ansible-core is installed into the venv on first use (pip install ansible-core); it is
not a test dependency. The lab runs with prefix pb- in /var/lib/appliance-lab-bench
unless APPLIANCE_LAB_PREFIX / APPLIANCE_LAB_DIR say otherwise.
"""

from __future__ import annotations

import os

os.environ.setdefault("APPLIANCE_LAB_PREFIX", "pb-")
os.environ.setdefault("APPLIANCE_LAB_DIR", "/var/lib/appliance-lab-bench")

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

if __name__ == "__main__" and not __package__:
    # Run by path (python tests/bench/bench_provision.py): run again as `python -m tests.bench.bench_provision`
    # from the checkout, the form that imports the tests' kit (tests.support).
    os.chdir(Path(__file__).resolve().parents[2])
    os.execv(sys.executable, [sys.executable, "-m", "tests.bench.bench_provision", *sys.argv[1:]])

from foundation.config import load_config  # noqa: E402
from hardware.lab import control, lifecycle, topology  # noqa: E402
from hardware.lab.imaging import seed_boards  # noqa: E402
from hardware.lab.state import default_dirs  # noqa: E402
from hardware.swap import RPI_SWAP_DROPIN_TEXT  # noqa: E402
from provisioning.credentials import issue_agent_credential  # noqa: E402
from provisioning.node_access import provisioning_key  # noqa: E402
from provisioning.operations import agent, runtime, system  # noqa: E402
from provisioning.operations.kubernetes import sources_text  # noqa: E402
from provisioning.payload import AGENT, DOCTOR  # noqa: E402
from tests.support.paths import REPO  # noqa: E402
from tests.support.wait import wait_for  # noqa: E402

ROOT = REPO
VENV_BIN = Path(sys.executable).parent
PLAYBOOK = Path(__file__).with_name("provision_playbook.yml")
LAB_CONTAINERD = "1.7.24~ds1-6"
"""The containerd of the lab's Debian mirror (trixie's; every 1.x gets the same config)."""


def ensure_ansible() -> Path:
    """ansible-playbook from the venv, installing ansible-core there on first use."""
    program = VENV_BIN / "ansible-playbook"
    if not program.exists():
        print("installing ansible-core into the venv (first use) ...", flush=True)
        subprocess.run([str(VENV_BIN / "pip"), "install", "-q", "ansible-core"], check=True)
    return program


def master_exec(dirs: object, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run argv in the lab master's namespace with its APPLIANCE_* environment."""
    return subprocess.run(control.exec_command(dirs, "master", argv), capture_output=True, text=True,  # type: ignore[arg-type]
                          check=False, **kwargs)  # type: ignore[call-overload]


def timed(dirs: object, argv: list[str]) -> tuple[subprocess.CompletedProcess[str], float, float]:
    """master_exec, with its wall time and the CPU seconds (user + system) it and its children used."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = master_exec(dirs, argv)
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return done, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def fresh_lab(nodes: int) -> tuple[object, list[dict[str, str]]]:
    """A lab with fresh boards, seeded and approved; returns its dirs and the workers (name, address)."""
    dirs = default_dirs()
    lifecycle.down(dirs)
    lifecycle.up(dirs, nodes=nodes, fresh=True, wait=120, say=lambda message: None)

    def registered() -> list[dict[str, str]] | None:
        done = master_exec(dirs, [str(VENV_BIN / "appliance"), "nodes", "list", "-o", "json"])
        rows = json.loads(done.stdout)["nodes"] if done.returncode == 0 else []
        workers = [row for row in rows if row["role"] == "worker" and row["address"]]
        return workers if len(workers) == nodes else None

    workers = wait_for(registered, timeout=60, interval=0.5, what=f"{nodes} workers in the registry")
    key = provisioning_key(dirs.master_state)
    seed_boards(dirs, [topology.MASTER_BOARD, *(f"pi-{n}" for n in range(1, nodes + 1))],
                Path(f"{key}.pub").read_text())
    for row in workers:
        done = master_exec(dirs, [str(VENV_BIN / "appliance"), "nodes", "approve", row["name"]])
        assert done.returncode == 0, done.stderr
    return dirs, workers


def run_ours(dirs: object, workers: list[dict[str, str]], plans: list[str]) -> tuple[float, float, int, str]:
    """Wall time and master CPU of `appliance provision` for every plan, total changes, and any failure."""
    total, cpu, changed, failures = 0.0, 0.0, 0, []
    for plan in plans:
        done, wall, used = timed(dirs, [str(VENV_BIN / "appliance"), "provision", *[w["name"] for w in workers],
                                        "--plan", plan, "-o", "json"])
        total += wall
        cpu += used
        jobs = json.loads(done.stdout)["jobs"] if done.stdout.strip().startswith("{") else []
        changed += sum(job["changed"] for job in jobs)
        failures += [f"{job['node']}: {job['error']}" for job in jobs if job["state"] != "succeeded"]
        if done.returncode != 0 and not jobs:
            failures.append(done.stderr.strip()[-300:])
    return total, cpu, changed, "; ".join(failures)


def playbook_files(folder: Path, repository: str, master_address: str) -> None:
    """The files the playbook copies, rendered by the appliance's own code."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "modules.conf").write_text(system.MODULES_TEXT)
    (folder / "sysctl.conf").write_text(system.SYSCTL_TEXT)
    (folder / "90-appliance-noswap.conf").write_text(RPI_SWAP_DROPIN_TEXT)
    (folder / "containerd.toml").write_text(runtime.containerd_config(LAB_CONTAINERD))
    (folder / "agent.tar.gz").write_bytes(AGENT.tar())
    (folder / "doctor.tar.gz").write_bytes(DOCTOR.tar())
    (folder / "appliance-agent.service").write_text(agent.unit_text(master_address))
    (folder / "kubernetes.list").write_text(
        sources_text(repository).replace("kubernetes-apt-keyring.gpg", "kubernetes-apt-keyring.asc"))


def run_ansible(dirs: object, workers: list[dict[str, str]], work: Path, program: Path,
                key: Path, repository: str, runs: int) -> list[tuple[float, float, int, str]]:
    """`runs` runs of the playbook: wall time, master CPU, changed tasks (PLAY RECAP), failures."""
    credentials = {w["name"]: issue_agent_credential(dirs.master_state, w["name"]).file_text()  # type: ignore[attr-defined]
                   for w in workers}
    inventory = work / "inventory.ini"
    inventory.write_text("[nodes]\n" + "".join(
        f"{w['name']} ansible_host={w['address']} node_name={w['name']}\n" for w in workers))
    variables = work / "vars.json"
    variables.write_text(json.dumps({"files": str(work / "files"), "repository": repository,
                                     "credentials": credentials}))
    (work / "ansible.cfg").write_text(
        "[defaults]\nhost_key_checking = False\nforks = 16\nstdout_callback = default\n"
        "interpreter_python = /usr/bin/python3\n"
        "[ssh_connection]\npipelining = True\n"
        f"ssh_args = -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile=/dev/null "
        f"-o IdentitiesOnly=yes\ncontrol_path_dir = {work}/cp\n")
    env = {"ANSIBLE_CONFIG": str(work / "ansible.cfg"), "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
           "HOME": str(work), "PATH": f"{VENV_BIN}:/usr/sbin:/usr/bin:/sbin:/bin"}
    results = []
    for number in range(runs):
        argv = ["env", *(f"{k}={v}" for k, v in env.items()), str(program), "-i", str(inventory),
                "-u", "pi", "--private-key", str(key), "-e", f"@{variables}",
                "-e", "credential={{ credentials[inventory_hostname] }}", str(PLAYBOOK)]
        done, elapsed, used = timed(dirs, argv)
        (work / f"ansible-run-{number + 1}.log").write_text(done.stdout + done.stderr)
        changed = sum(int(n) for n in re.findall(r"changed=(\d+)", done.stdout))
        failed = re.findall(r"^(\S+)\s*: ok=\d+\s+changed=\d+\s+unreachable=(\d+)\s+failed=(\d+)", done.stdout, re.M)
        problems = [f"{host}: unreachable={u} failed={f}" for host, u, f in failed if u != "0" or f != "0"]
        if done.returncode != 0 and not problems:
            problems.append(f"exit {done.returncode} (see {work}/ansible-run-{number + 1}.log)")
        results.append((elapsed, used, changed, "; ".join(problems)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=4)
    parser.add_argument("--plans", default="prepare,kubernetes",
                        help="our plans, run in order (the playbook holds the same steps)")
    parser.add_argument("--keep", action="store_true", help="leave the lab up at the end")
    parser.add_argument("--only", choices=("appliance", "ansible"), help="run one tool only")
    args = parser.parse_args()
    plans = args.plans.split(",")
    program = ensure_ansible()
    rows: list[tuple[str, str, float, float, int, str]] = []
    full: list[tuple[str, tuple[float, float, int, str]]] = []
    work = default_dirs().base / "bench-provision"  # kept: the Ansible logs are read after a failure
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        if args.only != "ansible":
            dirs, workers = fresh_lab(args.nodes)
            for label in ("first run", "re-run"):
                rows.append(("appliance", label, *run_ours(dirs, workers, plans)))
            # The whole way to joined: the master's init, then every worker's join; then the re-run
            # that matters day to day (nothing to do, every node checked).
            master = run_ours(dirs, [{"name": "master"}], ["all"])
            joined = run_ours(dirs, workers, ["all"])
            again = run_ours(dirs, workers, ["all"])
            full = [("master init", master), ("workers join", joined), ("all, re-run", again)]
        if args.only != "appliance":
            dirs, workers = fresh_lab(args.nodes)
            config = load_config(dirs.master_config)  # type: ignore[attr-defined]
            repository = config.kubernetes.apt_repository.format(version=config.kubernetes.version)
            playbook_files(work / "files", repository, str(config.network.master_address))
            key = provisioning_key(dirs.master_state)  # type: ignore[attr-defined]
            for label, result in zip(("first run", "re-run"),
                                     run_ansible(dirs, workers, work, program, key, repository, 2), strict=True):
                rows.append(("ansible", label, *result))
    finally:
        if not args.keep:
            lifecycle.down(default_dirs())
    report(args.nodes, plans, rows, full)

def report(nodes: int, plans: list[str], rows: list[tuple[str, str, float, float, int, str]],
           full: list[tuple[str, tuple[float, float, int, str]]]) -> None:
    """Print the figures side by side (wall time, and the CPU the master spent: this machine is shared)."""
    print(f"\nprovisioning {nodes} lab boards ({topology.PREFIX}*), plans {'+'.join(plans)} "
          f"vs. {PLAYBOOK.name}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs:")
    print(f"{'tool':<10} {'run':<10} {'wall s':>8} {'CPU s':>7} {'changed':>8}  problems")
    for tool, label, seconds, cpu, changed, problems in rows:
        print(f"{tool:<10} {label:<10} {seconds:8.2f} {cpu:7.2f} {changed:8d}  {problems or '-'}")
    by = {(tool, label): (seconds, cpu) for tool, label, seconds, cpu, _, _ in rows}
    for label in ("first run", "re-run"):
        if ("appliance", label) in by and ("ansible", label) in by:
            ours, theirs = by[("appliance", label)], by[("ansible", label)]
            print(f"{label}: appliance / ansible = {ours[0] / theirs[0]:.3f} wall, {ours[1] / theirs[1]:.3f} CPU "
                  "(target <= 0.1)")
    if not full:
        return
    print("\nthe appliance alone, plan all (no Ansible counterpart: init and join use the API):")
    for label, (seconds, cpu, changed, problems) in full:
        print(f"{'appliance':<10} {label:<14} {seconds:8.2f} s {cpu:6.2f} CPU s {changed:4d} changed  {problems or '-'}")
    print(f"re-run of plan all on {nodes} joined nodes, command start included: {full[2][1][0]:.2f} s "
          "(target < 1 s)")


if __name__ == "__main__":
    main()
