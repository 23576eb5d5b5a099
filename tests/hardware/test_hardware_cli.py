"""`appliance hardware identify|bom` and `appliance doctor` through the real CLI entry point."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
from click.testing import CliRunner

from appliance.cli.main import cli

IDENTIFY_KEYS = {"revision", "model", "soc", "arch", "memory_mb", "manufacturer", "supported", "reason"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(("code", "supported", "arch"), [
    ("c03111", True, "aarch64"), ("902120", True, "aarch64"), ("d04170", True, "aarch64"),
    ("a02082", True, "aarch64"), ("9000c1", False, "armv6l"), ("a01041", False, "armv7l"), ("0010", False, "armv6l"),
])
def test_identify_json(code: str, supported: bool, arch: str) -> None:
    status, out, _ = run("hardware", "identify", "--revision", code, "-o", "json")
    assert status == 0
    data = json.loads(out)
    assert IDENTIFY_KEYS <= set(data)
    assert data["revision"] == code and data["supported"] is supported and data["arch"] == arch


def test_identify_table_and_master_warning() -> None:
    status, out, _ = run("hardware", "identify", "--revision", "a02082", "--role", "master")
    assert status == 0 and "Raspberry Pi 3B" in out and "warning:" in out and "1700 MB" in out


@pytest.mark.parametrize("bad", ["zz", "", "0000", "123456789"])
def test_identify_malformed_exits_2_with_one_line(bad: str) -> None:
    status, out, err = run("hardware", "identify", "--revision", bad)
    assert status == 2 and out == ""
    assert err.startswith("error: revision code") and err.count("\n") == 1


def test_identify_this_machine() -> None:
    with open("/proc/cpuinfo") as handle:
        is_pi = any(line.startswith("Revision") for line in handle)
    status, out, err = run("hardware", "identify", "-o", "json")
    if is_pi:
        assert status == 0 and IDENTIFY_KEYS <= set(json.loads(out))
    else:
        assert status == 2
        assert err == "error: this machine is not a Raspberry Pi (no Revision in /proc/cpuinfo); pass --revision HEX\n"


def test_bom_formats() -> None:
    status, out, _ = run("hardware", "bom", "--nodes", "4", "--model", "pi5", "-o", "json")
    data = json.loads(out)
    assert status == 0 and data["nodes"] == 4 and data["power"]["total_watts"] == 108
    status, out, _ = run("hardware", "bom", "--nodes", "4", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and rows[0].keys() == {"item", "quantity", "unit_price_usd", "line_total_usd", "notes"}
    assert any("switch" in row["item"] and row["quantity"] == "1" for row in rows)
    status, out, _ = run("hardware", "bom", "--nodes", "4")
    assert status == 0 and "total" in out and "60 W budget" in out and "as of" in out


@pytest.mark.parametrize("args", [["--nodes", "0"], ["--nodes", "100"], ["--nodes", "4", "--model", "pi2"], []])
def test_bom_bad_input_exits_2(args: list[str]) -> None:
    status, _, err = run("hardware", "bom", *args)
    assert status == 2 and err.strip()


def test_doctor_cli_json_and_exit_code() -> None:
    status, out, _ = run("doctor", "-o", "json")
    checks = json.loads(out)["checks"]
    assert {c["status"] for c in checks} <= {"ok", "warn", "fail"}
    assert status == (1 if any(c["status"] == "fail" for c in checks) else 0)
    arch = next(c for c in checks if c["name"] == "arch")
    assert os.uname().machine in arch["detail"]
