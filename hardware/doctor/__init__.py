"""`appliance doctor`: preflight checks of a node before it joins the cluster.

`snapshot.collect()` reads the machine once; `checks.run_checks()` judges
that snapshot with pure functions; this module puts them together and renders
the result as JSON (`{"checks": [{"name", "status", "detail", "fix"}]}`) or
as a plain table. Provisioning runs the same thing over SSH
(`python3 -m hardware.doctor -o json`).
"""

from __future__ import annotations

from dataclasses import asdict

from hardware.doctor.checks import Check, run_checks
from hardware.doctor.snapshot import Snapshot, collect

__all__ = ["Check", "Snapshot", "collect", "exit_code", "render_table", "run_checks", "run_doctor", "to_json"]


def run_doctor(role: str = "worker") -> list[Check]:
    """Read this machine and run every check for `role` (master or worker)."""
    return run_checks(collect(), role)


def to_json(checks: list[Check]) -> dict[str, object]:
    """The `doctor -o json` shape of CLI.md."""
    return {"checks": [asdict(check) for check in checks]}


def exit_code(checks: list[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not fail the run)."""
    return 1 if any(check.status == "fail" for check in checks) else 0


def render_table(checks: list[Check]) -> str:
    """One line per check, with the fix indented under anything not ok."""
    width = max((len(check.name) for check in checks), default=0)
    lines = []
    for check in checks:
        lines.append(f"{check.status.upper():<4}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status != "ok":
            lines.append(f"{'':<4}  {'':<{width}}  fix: {check.fix}")
    failed = sum(check.status == "fail" for check in checks)
    warned = sum(check.status == "warn" for check in checks)
    lines.append(f"{len(checks)} checks: {failed} failed, {warned} warnings")
    return "\n".join(lines)
