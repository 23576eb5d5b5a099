"""The C code under AddressSanitizer and UndefinedBehaviorSanitizer, fed malformed input.

The driver (native/tests_c/native_driver.c) is built with
-fsanitize=address,undefined,float-cast-overflow and no recovery, and gets
queries, cached replies and cgroup texts that are truncated, mutated or
random, clocks that are NaN or infinite, and real files and sockets; every
input sits in a heap block of exactly its size, so reading one byte past it
stops the run. The results must still equal the twins'. To show that the
harness does catch a real over-read, copies of the sources with one bound
check loosened by a byte must make it fail.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native.cgroup_stat import BLKIO_V1, INTEGER, IO_V2, KEYED
from native.dns_answer import FORWARDED, ZONE
from tests.native.c_driver import (
    NATIVE,
    Script,
    build,
    cgroup_scenario,
    dns_scenario,
    loopback_scenario,
    run,
)
from tests.native.dns_packets import query, reply, wire_name

SANITIZE = ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined,float-cast-overflow",
            "-fno-sanitize-recover=all"]


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("gcc"), "gcc is missing: scripts/install installs it"
    return build("gcc", tmp_path_factory.mktemp("asan") / "driver", SANITIZE)


def edges(script: Script) -> None:
    """Inputs that end exactly where a loosened bound check would read one byte further."""
    name = wire_name([b"edge", b"test"])
    script.put(FORWARDED, name, 1, 1, False, *reply(name, 1, 1, [60]), 0.0, 1e9)
    script.put(ZONE, name, 16, 1, False, *reply(name, 16, 1, []), 0.0, float("inf"))
    full = query([b"edge", b"test"], 1, 1, edns=(1232, 0, False, b""))
    for cut in range(len(full) + 1):
        script.answer(full[:cut], 5.0, 1232)
    plain = query([b"edge", b"test"], 1, 1)
    for cut in range(len(plain) + 1):
        script.answer(plain[:cut], 5.0, 1232)
    text = b"user_usec 5\nusage_usec 77\n"
    for cut in range(len(text) + 1):
        script.parse(KEYED, "usage_usec", text[:cut])
    for kind, text in ((INTEGER, b"123\n"), (IO_V2, b"8:0 rbytes=1 wbytes=2\n"),
                       (BLKIO_V1, b"8:0 Read 5\n8:0 Write 6\n")):
        for cut in range(len(text) + 1):
            script.parse(kind, None, text[:cut])


def check(driver: Path, script: Script) -> None:
    result = run(driver, bytes(script.data))
    assert result.returncode == 0 and result.stderr == b"", result.stderr.decode()[-3000:]
    assert result.stdout.decode().splitlines() == script.expected


def test_long_malformed_scenario_is_clean_and_matches_the_twins(driver: Path, tmp_path: Path) -> None:
    script = Script()
    edges(script)
    rng = random.Random("sanitizers")
    dns_scenario(script, rng, rounds=1500)
    cgroup_scenario(script, rng, rounds=2000, where=tmp_path)
    loopback_scenario(script, rng)
    check(driver, script)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=40),
       st.lists(st.binary(max_size=200), max_size=20),
       st.floats(allow_nan=True, allow_infinity=True))
def test_random_bytes_are_clean_and_match_the_twins(
    driver: Path, queries: list[bytes], texts: list[bytes], now: float
) -> None:
    script = Script()
    for data in queries[:3]:  # random bytes as replies and keys too: put refuses or takes them
        name = data[12:40] if len(data) > 40 else b"\x01a\x00"
        script.put(FORWARDED, name, 1, 1, False, data, (len(data) - 4,) if len(data) > 4 else (),
                   0.0, 1e9)
    for data in queries:
        script.answer(data, now, 1232)
    for number, text in enumerate(texts):
        script.parse(number % 4, "usage_usec" if number % 4 == KEYED else None, text)
    check(driver, script)


LOOSENED = [
    ("dns_answer.c", "if (name_end + 4 > n) {", "if (name_end + 3 > n) {"),
    ("dns_answer.c", "if (off + OPT_LEN > n || d[off] != 0", "if (off + OPT_LEN - 1 > n || d[off] != 0"),
    ("cgroup_stat.c", "if (n > key_len && memcmp(line, key, key_len) == 0",
     "if (n >= key_len && memcmp(line, key, key_len) == 0"),
]


@pytest.mark.parametrize(("source", "right", "wrong"), LOOSENED)
def test_an_over_read_of_one_byte_is_caught(source: str, right: str, wrong: str, tmp_path: Path) -> None:
    sources = tmp_path / "src"
    shutil.copytree(NATIVE / "src", sources)
    text = (sources / source).read_text()
    assert text.count(right) == 1, f"{source} no longer has {right!r}: update this test"
    (sources / source).write_text(text.replace(right, wrong))
    broken = build("gcc", tmp_path / "broken", SANITIZE, sources=sources)
    script = Script()
    edges(script)
    result = run(broken, bytes(script.data))
    assert result.returncode != 0
    assert b"AddressSanitizer: heap-buffer-overflow" in result.stderr
