"""The doctor's remote payload runs on its own, and its JSON is read back defensively."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hardware.doctor import run_checks, to_json
from hardware.doctor.report import REMOTE_COMMAND, DoctorReportError, parse_report
from hardware.doctor.snapshot import Snapshot
from provisioning.payload import DOCTOR

SYSTEM_PYTHON = "/usr/bin/python3"  # like a fresh node: Debian's python3 (+ python3-yaml), no appliance


def test_payload_alone_runs_the_doctor(tmp_path: Path) -> None:
    """Unpacked into an empty directory and run by a Python that has no appliance installed, it runs."""
    assert Path(SYSTEM_PYTHON).exists(), f"{SYSTEM_PYTHON} is missing; fix: scripts/install"
    probe = subprocess.run([SYSTEM_PYTHON, "-c", "import yaml; import hardware"], capture_output=True, text=True,
                           cwd="/", check=False)
    # A node's python3 has python3-yaml and no appliance: anything else and this test proves nothing.
    assert "No module named 'hardware'" in probe.stderr, (
        f"{SYSTEM_PYTHON} must have python3-yaml and no appliance installed (fix: scripts/install; "
        f"pip uninstall the appliance from it): {probe.stderr.strip() or 'it imported both'}")
    with tarfile.open(fileobj=io.BytesIO(DOCTOR.tar()), mode="r:gz") as archive:
        assert sorted(archive.getnames()) == sorted(DOCTOR.modules)
        archive.extractall(tmp_path, filter="data")
    command = REMOTE_COMMAND.split()
    assert command[0] == "python3"
    done = subprocess.run([SYSTEM_PYTHON, *command[1:]], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode in (0, 1), done.stderr
    checks = parse_report(done.stdout, "tmp")
    assert len(checks) == 14 and {c.status for c in checks} <= {"ok", "warn", "fail"}


def test_round_trip() -> None:
    checks = run_checks(Snapshot(machine="aarch64", kernel_release="x", files={}, commands={}))
    assert parse_report(json.dumps(to_json(checks))) == checks


@pytest.mark.parametrize("bad", [
    "", "not json", "[]", "{}", '{"checks": {}}', '{"checks": [1]}',
    '{"checks": [{"name": "a", "status": "ok", "detail": "d"}]}',
    '{"checks": [{"name": "a", "status": "maybe", "detail": "d", "fix": ""}]}',
    "[" * 100000,
])
def test_malformed_reports(bad: str) -> None:
    with pytest.raises(DoctorReportError) as caught:
        parse_report(bad, "pi-2")
    assert str(caught.value).startswith("pi-2: ") and "\n" not in str(caught.value)


@given(st.one_of(st.text(max_size=200), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(
        ["checks", "name", "status", "detail", "fix", "x"]), inner, max_size=5),
    max_leaves=20).map(json.dumps)))
def test_fuzz_only_documented_error(text: str) -> None:
    try:
        checks = parse_report(text)
    except DoctorReportError:
        return
    assert all(c.status in ("ok", "warn", "fail") for c in checks)
