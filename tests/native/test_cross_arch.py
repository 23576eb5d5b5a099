"""The native C code builds and gives the Python twins' results on ARM (aarch64, armhf).

The C sources are cross-compiled statically and run under qemu-user, so the
test needs neither ARM hardware nor binfmt_misc. The checksum driver gets
random records plus edge cases; the DNS/cgroup driver gets a long script of
cache operations, queries (many malformed or truncated), clocks (NaN and
infinities too), cgroup texts, file sets and one batch over real loopback
sockets (recvmmsg/sendmmsg and their 32-bit struct layouts on armhf). Every
output line must equal what the twins say. A missing cross compiler or
emulator fails the test: scripts/install installs them.
"""

from __future__ import annotations

import random
import shutil
import subprocess
from pathlib import Path

import pytest

from native.checksum import checksum_adjust_py, inet_checksum_py
from tests.native.c_driver import (
    Script,
    build,
    cgroup_scenario,
    dns_scenario,
    loopback_scenario,
    run,
)
from tests.support.paths import REPO

NATIVE = REPO / "native"
TARGETS = {
    "aarch64": ("aarch64-linux-gnu-gcc", "qemu-aarch64-static"),
    "armhf": ("arm-linux-gnueabihf-gcc", "qemu-arm-static"),
}


def _tools(arch: str) -> tuple[str, str]:
    compiler, emulator = TARGETS[arch]
    for tool in (compiler, emulator):
        assert shutil.which(tool), f"{tool} is missing: scripts/install installs it"
    return compiler, emulator


def _records() -> list[bytes]:
    rng = random.Random(1624)
    edge = [b"", b"\x00", b"\xff", b"\xff\xff", b"\x00\x00", b"\xff" * 65535, b"\x01\x02\x03"]
    randoms = [rng.randbytes(rng.randint(0, 1600)) for _ in range(400)]
    return edge + randoms


def _expected(records: list[bytes]) -> list[str]:
    lines = []
    for data in records:
        total = inet_checksum_py(data)
        first = int.from_bytes(data[:2], "big") if len(data) >= 2 else 0
        lines.append(f"{total} {checksum_adjust_py(total, first, ~first & 0xFFFF)}")
    return lines


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_c_code_matches_python_twins_under_qemu(arch: str, tmp_path: Path) -> None:
    compiler, emulator = _tools(arch)
    binary = tmp_path / f"driver-{arch}"
    sources = sorted(str(p) for p in (NATIVE / "src").glob("*.c"))
    subprocess.run(
        [compiler, "-static", "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror",
         "-I", str(NATIVE / "src"), str(NATIVE / "tests_c" / "checksum_driver.c"), *sources,
         "-o", str(binary)],
        check=True,
    )
    records = _records()
    stdin = b"".join(len(r).to_bytes(2, "big") + r for r in records)
    result = subprocess.run([emulator, str(binary)], input=stdin, capture_output=True, check=True, timeout=120)
    assert result.stdout.decode().splitlines() == _expected(records)


@pytest.mark.parametrize("arch", sorted(TARGETS))
def test_dns_and_cgroup_code_matches_the_twins_under_qemu(arch: str, tmp_path: Path) -> None:
    compiler, emulator = _tools(arch)
    binary = build(compiler, tmp_path / f"native-{arch}", ["-static", "-O2"])
    script = Script()
    rng = random.Random(f"cross-{arch}")
    dns_scenario(script, rng, rounds=400)
    files = tmp_path / "files"
    files.mkdir()
    cgroup_scenario(script, rng, rounds=600, where=files)
    loopback_scenario(script, rng)
    result = run(binary, bytes(script.data), emulator)
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert len(lines) == len(script.expected)
    for number, (got, wanted) in enumerate(zip(lines, script.expected, strict=True)):
        assert got == wanted, f"line {number + 1}"
    answers = [line for line in lines if line.startswith("A ")]
    hits = [line for line in answers if line != "A -"]
    assert len(hits) >= 50 and len(answers) - len(hits) >= 500  # both paths really ran
    _, received, zone, forwarded, refused, errors, *_ = lines[-1].split(" ")
    assert int(zone) > 0 and int(forwarded) > 0 and int(received) > int(zone) + int(forwarded)
    assert (refused, errors) == ("0", "0")
