"""Which boards may run the cluster: decided by the CPU, with RAM warnings per role."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from hardware.models import decode_revision
from hardware.support import assess

TABLE = list(csv.DictReader((Path(__file__).parent / "data" / "revision_codes.csv").read_text().splitlines()))
REFUSED_MODELS = {"A", "B", "A+", "B+", "CM1", "Zero", "Zero W", "2B"}


@pytest.mark.parametrize("row", TABLE, ids=[r["code"] for r in TABLE])
def test_every_documented_board(row: dict[str, str]) -> None:
    verdict = assess(decode_revision(row["code"]), "worker")
    refused = row["model"] in REFUSED_MODELS  # "2B (with BCM2837)" is not in the set
    assert verdict.supported is not refused
    if refused:
        assert "32-bit" in verdict.reason and "v1.27" in verdict.reason


def test_pi2_v12_accepted_with_caveats() -> None:
    worker = assess(decode_revision("a02042"), "worker")
    assert worker.supported and any("Pi 2 B v1.2" in w for w in worker.warnings)
    master = assess(decode_revision("a22042"), "master")
    assert master.supported and any("1700 MB" in w for w in master.warnings)


@pytest.mark.parametrize(("code", "role", "warned"), [
    ("a02082", "master", True),    # Pi 3B, 1 GB
    ("b03111", "master", False),   # Pi 4B, 2 GB
    ("902120", "worker", True),    # Zero 2 W, 512 MB
    ("a02082", "worker", False),   # Pi 3B worker, 1 GB
    ("e04171", "master", False),   # Pi 5, 16 GB
])
def test_ram_warnings(code: str, role: str, warned: bool) -> None:
    verdict = assess(decode_revision(code), role)
    assert verdict.supported and bool(verdict.warnings) is warned


def test_unknown_processor_refused_and_bad_role() -> None:
    verdict = assess(decode_revision("c09111"))
    assert not verdict.supported and "unknown processor" in verdict.reason
    with pytest.raises(ValueError):
        assess(decode_revision("c03111"), "boss")
