"""The payloads (provisioning.payload): exactly the modules their programs import.

Unpacked in a temporary directory and imported by Debian's own /usr/bin/python3
in isolated mode (-I: no PYTHONPATH, no user site, no current directory), so
the venv and the project checkout are out of reach: a module missing from the
payload fails the import, a module in it that nothing imports fails the
equality check. The lab test (tests/lab/test_netd_lab.py) runs the same
payload on a board's bookworm root.
"""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from provisioning.payload import AGENT, DOCTOR, IMPORT_CHECK, Payload

SYSTEM_PYTHON = Path("/usr/bin/python3")


PAYLOADS = pytest.mark.parametrize("payload", [AGENT, DOCTOR], ids=lambda p: p.name)


def _unpack(tmp_path: Path, payload: Payload) -> Path:
    where = tmp_path / payload.name
    with tarfile.open(fileobj=io.BytesIO(payload.tar()), mode="r:gz") as archive:
        archive.extractall(where, filter="data")
    return where


@PAYLOADS
def test_payload_holds_exactly_the_listed_modules(payload: Payload) -> None:
    with tarfile.open(fileobj=io.BytesIO(payload.tar()), mode="r:gz") as archive:
        members = archive.getmembers()
    assert [m.name for m in members] == list(payload.modules)
    assert all(m.isfile() and m.mode == 0o644 and m.uid == 0 for m in members)
    assert payload.tar() == payload.tar()  # reproducible bytes (provisioning can compare hashes)
    assert payload.sha256() == payload.sha256()


@PAYLOADS
def test_payload_imports_on_system_python_alone(tmp_path: Path, payload: Payload) -> None:
    assert SYSTEM_PYTHON.exists(), "Debian's /usr/bin/python3 is what nodes run; install python3"
    where = _unpack(tmp_path, payload)
    result = subprocess.run([str(SYSTEM_PYTHON), "-I", "-c", IMPORT_CHECK, str(where), payload.entry_module],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, str] = json.loads(result.stdout)
    outside = {name: path for name, path in loaded.items() if not path.startswith(f"{where}/")}
    assert outside == {}
    used = {str(Path(path).relative_to(where)) for path in loaded.values()}
    assert used == set(payload.modules)


def test_agent_command_runs_from_the_unpacked_payload(tmp_path: Path) -> None:
    assert SYSTEM_PYTHON.exists(), "Debian's /usr/bin/python3 is what nodes run; install python3"
    where = _unpack(tmp_path, AGENT)
    program, *args = AGENT.command.split()
    assert program == "python3"
    result = subprocess.run([str(SYSTEM_PYTHON), *args, "--help"], cwd=where, capture_output=True,
                            text=True, timeout=60, check=False, env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "--master" in result.stdout and "--state-dir" in result.stdout
