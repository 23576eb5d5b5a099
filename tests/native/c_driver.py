"""Scripts for native/tests_c/native_driver.c, with the lines the Python twins expect.

A `Script` records operations (cache puts and answers, cgroup parses, file
sets, a loopback batch) both as the driver's binary input and as the line
each must print, computed by the twins. `build` compiles the driver (for
another architecture, or with sanitizers); `run` runs it, under an emulator
when one is given. `scenario` writes a long deterministic mix of normal,
malformed and truncated input.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
from pathlib import Path

from native.cgroup_stat import BLKIO_V1, INTEGER, IO_V2, KEYED, CgroupFilesTwin, StatFile, parse
from native.dns_answer import FORWARDED, ZONE, AnswerCacheTwin
from tests.native.dns_packets import CLASSES, QTYPES, query, reply, wire_name
from tests.support.paths import REPO

NATIVE = REPO / "native"
WARNINGS = ["-std=c99", "-Wall", "-Wextra", "-Werror"]


def build(compiler: str, output: Path, flags: list[str], sources: Path = NATIVE / "src") -> Path:
    """Compile the driver with the C sources in `sources` (patched copies in the mutation test)."""
    subprocess.run(
        [compiler, *WARNINGS, *flags, "-I", str(sources),
         str(NATIVE / "tests_c" / "native_driver.c"), *sorted(map(str, sources.glob("*.c"))),
         "-o", str(output)],
        check=True, capture_output=True, text=True,
    )
    return output


SANITIZER_ENV = {"ASAN_OPTIONS": "detect_leaks=1", "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}


def run(binary: Path, script: bytes, emulator: str | None = None,
        timeout: float = 300) -> subprocess.CompletedProcess[bytes]:
    """The driver's output for `script` (not checked: sanitizer tests look at the failure)."""
    command = [emulator, str(binary)] if emulator else [str(binary)]
    return subprocess.run(command, input=script, capture_output=True, timeout=timeout, check=False,
                          env={**os.environ, **SANITIZER_ENV})


def _double(value: float) -> bytes:
    return struct.pack(">Q", struct.unpack("=Q", struct.pack("=d", value))[0])


class Script:
    """Driver input and the lines the twins expect for it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.expected: list[str] = []
        self.cache = AnswerCacheTwin()
        self.files = CgroupFilesTwin()

    def put(self, kind: int, qname: bytes, qtype: int, qclass: int, do: bool, packed: bytes,
            offsets: tuple[int, ...], stored_at: float, expires_at: float) -> None:
        self.data += b"P" + struct.pack(">BBHHH", kind, do, qtype, qclass, len(qname)) + qname
        self.data += struct.pack(">I", len(packed)) + packed + struct.pack(">H", len(offsets))
        self.data += b"".join(struct.pack(">I", o) for o in offsets)
        self.data += _double(stored_at) + _double(expires_at)
        ok = self.cache.put(kind, qname, qtype, qclass, do, packed, offsets, stored_at, expires_at)
        self.expected.append("P 0" if ok else "P -1")

    def remove(self, kind: int, qname: bytes, qtype: int, qclass: int, do: bool) -> None:
        self.data += b"R" + struct.pack(">BBHHH", kind, do, qtype, qclass, len(qname)) + qname
        self.expected.append("R 0" if self.cache.remove(kind, qname, qtype, qclass, do) else "R -3")

    def clear(self, kind: int) -> None:
        self.data += b"C" + bytes([kind])
        self.cache.clear(kind)
        self.expected.append(f"C {self.cache.count(ZONE)} {self.cache.count(FORWARDED)}")

    def answer(self, data: bytes, now: float, our_payload: int) -> None:
        self.data += b"A" + _double(now) + struct.pack(">HI", our_payload, len(data)) + data
        hit = self.cache.answer(data, now, our_payload)
        self.expected.append("A -" if hit is None else f"A {hit[1]} {hit[0].hex()}")

    def parse(self, kind: int, key: str | None, text: bytes) -> None:
        encoded = b"\xff" if key is None else bytes([len(key.encode())]) + key.encode()
        self.data += b"T" + bytes([kind]) + encoded + struct.pack(">I", len(text)) + text
        self.expected.append("T {} {} {}".format(*parse(kind, key, text)))

    def open(self, kind: int, key: str | None, path: str) -> None:
        encoded = b"\xff" if key is None else bytes([len(key.encode())]) + key.encode()
        self.data += b"O" + bytes([kind]) + encoded + struct.pack(">H", len(path.encode()))
        self.data += path.encode()
        self.expected.append(f"O {self.files.open([StatFile(path, kind, key)])[0]}")

    def close(self, slot: int) -> None:
        self.data += b"X" + struct.pack(">i", slot)
        self.files.close([slot])
        self.expected.append("X")

    def scan(self) -> None:
        self.data += b"S"
        readings = self.files.scan()
        self.expected.append("S" + (" " + ",".join("{} {} {}".format(*r) for r in readings)
                                    if readings else ""))

    def loopback(self, queries: list[bytes], now: float, our_payload: int) -> None:
        self.data += b"L" + _double(now) + struct.pack(">HB", our_payload, len(queries))
        self.data += b"".join(struct.pack(">I", len(q)) + q for q in queries)
        hits = [self.cache.answer(q, now, our_payload) for q in queries]
        zone = sum(1 for h in hits if h is not None and h[1] == ZONE)
        forwarded = sum(1 for h in hits if h is not None and h[1] == FORWARDED)
        replies = "".join(h[0].hex() + "," for h in hits if h is not None)
        misses = "".join(q.hex() + "," for q, h in zip(queries, hits, strict=True) if h is None)
        self.expected.append(f"L {len(queries)} {zone} {forwarded} 0 0 {replies} {misses}")


def _labels(rng: random.Random) -> list[bytes]:
    alphabet = b"abcxyz019-ABCXYZ._\x00\xff"
    return [bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 12)))
            for _ in range(rng.randint(0, 4))]


def _mutated(rng: random.Random, data: bytes) -> bytes:
    choice = rng.random()
    if choice < 0.55 or not data:
        return data
    if choice < 0.75:
        return data[: rng.randrange(len(data))]  # truncated
    if choice < 0.9:
        at = rng.randrange(len(data))
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    return data + rng.randbytes(rng.randint(1, 4))


CLOCKS = [0.0, 0.5, 1.0, 59.9, 3600.0, 1e9, 1e300, -1e300, float("inf"), float("-inf"), float("nan")]


def dns_scenario(script: Script, rng: random.Random, rounds: int) -> None:
    """Random caches and queries, many of them malformed or truncated."""
    for _ in range(rounds):
        pool = [_labels(rng) for _ in range(3)]
        names = [wire_name([label.lower() for label in labels]) for labels in pool]
        stored_keys = []
        for _ in range(rng.randint(0, 6)):
            which = rng.randrange(3)
            kind = rng.choice((ZONE, FORWARDED))
            qtype, qclass, do = rng.choice(QTYPES), rng.choice(CLASSES), rng.random() < 0.5
            packed, offsets = reply(names[which], qtype, qclass,
                                    [rng.choice((0, 30, 300, 0xFFFFFFFF)) for _ in range(rng.randint(0, 3))])
            qname = names[which]
            if rng.random() < 0.15:
                packed = _mutated(rng, packed)
            if rng.random() < 0.05:
                qname = qname.upper()
            stored = rng.choice((0.0, 10.0, 1e6))
            script.put(kind, qname, qtype, qclass, do, packed, offsets,
                       stored, stored + rng.choice((0.0, 60.0, 1e9, float("inf"))))
            stored_keys.append((which, qtype, qclass, do, stored))
        for _ in range(rng.randint(1, 10)):
            which, qtype, qclass, do, stored = rng.choice(stored_keys) if stored_keys and rng.random() < 0.7 else (
                rng.randrange(3), rng.choice(QTYPES), rng.choice(CLASSES), rng.random() < 0.5, 0.0)
            labels = [bytes(c ^ 32 if rng.random() < 0.3 and 97 <= c <= 122 else c for c in label)
                      for label in pool[which]]
            edns = None if rng.random() < 0.4 else (
                rng.choice((0, 100, 512, 1232, 65535)), rng.choice((0, 0, 0, 1)), do,
                rng.randbytes(rng.choice((0, 0, 4))))
            flags = rng.choice((0x0100, 0x0000, 0x0110, 0x0130) * 3 + (0x8100, 0x2900, rng.randrange(65536)))
            data = query(labels, qtype, qclass, rng.randrange(65536), flags, edns)
            if rng.random() < 0.05:
                data = rng.randbytes(rng.randint(0, 40))
            now = stored + rng.uniform(0, 100) if rng.random() < 0.6 else rng.choice(CLOCKS)
            script.answer(_mutated(rng, data), now, rng.choice((0, 512, 1232, 4096)))
        if rng.random() < 0.3:
            script.remove(rng.choice((ZONE, FORWARDED)), rng.choice(names),
                          rng.choice(QTYPES), rng.choice(CLASSES), rng.random() < 0.5)
        if rng.random() < 0.1:
            script.clear(rng.choice((ZONE, FORWARDED)))


def _cgroup_text(rng: random.Random) -> bytes:
    number = rng.choice(["0", "17", str(rng.randrange(10**12)), "9223372036854775807",
                         "9223372036854775808", "1" * 20, "", "-1", "max", "12a"])
    shapes = [
        number, number + "\n", "max\n",
        "\n".join(f"{k} {number}" for k in rng.sample(["usage_usec", "user_usec", "x"], 2)),
        "\n".join(f"8:{i} rbytes={number} wbytes={rng.randrange(99)} rios=1" for i in range(3)),
        "\n".join(f"8:{i} {op} {number}" for i in range(2) for op in ("Read", "Write", "Total")),
    ]
    text = rng.choice(shapes).encode()
    if rng.random() < 0.3:
        text = _mutated(rng, text)
    if rng.random() < 0.1:
        text = rng.randbytes(rng.randint(0, 60))
    return text


def cgroup_scenario(script: Script, rng: random.Random, rounds: int, where: Path) -> None:
    """Random texts parsed, files opened (some missing), scanned, closed and reopened."""
    kinds = (INTEGER, KEYED, IO_V2, BLKIO_V1)
    for i in range(rounds):
        kind = rng.choice(kinds)
        key = rng.choice(("usage_usec", "x", None, "a b", "k" * 70)) if kind == KEYED else None
        script.parse(kind, key, _cgroup_text(rng))
        if i % 5 == 0:
            path = where / f"file-{i}"
            if rng.random() < 0.85:
                path.write_bytes(_cgroup_text(rng))
            kind = rng.choice(kinds)
            script.open(kind, "usage_usec" if kind == KEYED else None, str(path))
            if rng.random() < 0.3:
                script.close(rng.randrange(-1, i // 5 + 2))
            script.scan()


def loopback_scenario(script: Script, rng: random.Random) -> None:
    """One batch over real sockets: hits from both tables and misses."""
    name = wire_name([b"node-3", b"cluster", b"home"])
    www = wire_name([b"www", b"example", b"test"])
    script.put(ZONE, name, 1, 1, False, *reply(name, 1, 1, [30]), 0.0, float("inf"))
    script.put(FORWARDED, www, 1, 1, False, *reply(www, 1, 1, [300, 60]), 10.0, 400.0)
    queries = []
    for i in range(40):
        labels = rng.choice(([b"NODE-3", b"cluster", b"Home"], [b"www", b"Example", b"test"],
                             [b"nope", b"test"]))
        edns = (1232, 0, False, b"") if i % 3 == 0 else None
        queries.append(_mutated(rng, query(labels, 1, 1, i, 0x0100, edns)))
    script.loopback([q for q in queries if q], 70.25, 1232)
