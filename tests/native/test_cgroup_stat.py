"""The C cgroup file set and its Python twin read every file alike.

Parsers: random and cgroup-shaped texts (numbers too long or too large,
sums that overflow, stray spaces, NULs) give the same reading in C and in
the twin. Sets: random files in a temporary directory, opened, rewritten,
closed and reopened between scans, scan alike slot for slot. Real cgroups
are in test_cgroup_real.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native._loader import Native, load
from native.cgroup_stat import (
    BAD,
    BLKIO_V1,
    INTEGER,
    IO_V2,
    KEYED,
    MISSING,
    OK,
    UNLIMITED,
    CgroupFilesTwin,
    NativeCgroupFiles,
    StatFile,
    parse,
    parse_native,
)
from tests.native.scale import examples


def native() -> Native:
    loaded = load()
    assert loaded is not None, "the extension must be built for these tests (pip install -e .)"
    return loaded


NUMBER = st.one_of(
    st.integers(0, 10**6).map(str),
    st.integers(0, 2**64).map(str),
    st.sampled_from(["9223372036854775807", "9223372036854775808", "0" * 19, "0" * 20, "",
                     "-1", "+1", "1 ", " 1", "12a", "max", "\u0661"]),
)
KEY = st.sampled_from(["usage_usec", "user_usec", "usage", "nr_periods", "usage_usec2"])
KEYED_TEXT = st.lists(
    st.tuples(KEY, st.sampled_from([" ", "  ", "\t", ""]), NUMBER).map("".join), max_size=6
).map("\n".join)
IO_LINE = st.tuples(
    st.sampled_from(["8:0", "259:1", "", "x"]),
    st.lists(st.tuples(st.sampled_from(["rbytes=", "wbytes=", "rios=", "dbytes=", "rbytes"]),
                       NUMBER).map("".join), max_size=6),
).map(lambda t: " ".join([t[0], *t[1]]))
BLKIO_LINE = st.one_of(
    st.tuples(st.sampled_from(["8:0", "7:3"]), st.sampled_from(["Read", "Write", "Sync", "Total",
                                                                "read", "Write "]), NUMBER)
    .map(" ".join),
    NUMBER.map(lambda n: f"Total {n}"),
)
TEXT = st.one_of(
    NUMBER.flatmap(lambda n: st.sampled_from([n, n + "\n", n + "\n\n", "\n" + n])),
    st.sampled_from(["max", "max\n", "max \n", "MAX\n", "", "\n"]),
    KEYED_TEXT,
    st.lists(IO_LINE, max_size=5).map("\n".join),
    st.lists(BLKIO_LINE, max_size=8).map("\n".join),
    st.text(max_size=80),
).map(lambda text: text.encode()) | st.binary(max_size=200)


@settings(max_examples=examples(800), deadline=None)
@given(TEXT, st.sampled_from([INTEGER, KEYED, IO_V2, BLKIO_V1, 7]), KEY | st.sampled_from(
    ["", "a b", "x" * 65, "x" * 64]) | st.none())
def test_c_and_twin_parse_alike(text: bytes, kind: int, key: str | None) -> None:
    assert parse_native(native(), kind, key, text) == parse(kind, key, text)


@pytest.mark.parametrize(
    ("kind", "key", "text", "reading"),
    [
        (INTEGER, None, b"123\n", (OK, 123, 0)),
        (INTEGER, None, b"max\n", (UNLIMITED, 0, 0)),
        (INTEGER, None, b"9223372036854775808\n", (BAD, 0, 0)),
        (INTEGER, None, b"12 \n", (BAD, 0, 0)),
        (KEYED, "usage_usec", b"usage_usec 42\nuser_usec 40\nsystem_usec 2\n", (OK, 42, 0)),
        (KEYED, "usage_usec", b"user_usec 40\n", (BAD, 0, 0)),
        (IO_V2, None, b"8:0 rbytes=100 wbytes=20 rios=3 wios=1 dbytes=0 dios=0\n"
         b"259:0 rbytes=1 wbytes=2 rios=1 wios=1 dbytes=0 dios=0\n", (OK, 101, 22)),
        (IO_V2, None, b"", (OK, 0, 0)),
        (IO_V2, None, b"8:0 rbytes=9223372036854775807\n8:1 rbytes=1\n", (BAD, 0, 0)),
        (BLKIO_V1, None, b"8:0 Read 4096\n8:0 Write 512\n8:0 Sync 0\n8:0 Total 4608\n"
         b"7:1 Read 10\nTotal 4618\n", (OK, 4106, 512)),
    ],
)
def test_known_files(kind: int, key: str | None, text: bytes, reading: tuple[int, int, int]) -> None:
    assert parse(kind, key, text) == reading
    assert parse_native(native(), kind, key, text) == reading


FILE = st.tuples(st.sampled_from([INTEGER, KEYED, IO_V2, BLKIO_V1]), TEXT, st.booleans())
STEP = st.one_of(
    st.tuples(st.just("open"), st.lists(FILE, min_size=1, max_size=4)),
    st.tuples(st.just("close"), st.lists(st.integers(-1, 12), max_size=4)),
    st.tuples(st.just("rewrite"), st.integers(0, 30), TEXT),
    st.tuples(st.just("scan")),
)


@settings(max_examples=examples(150), deadline=None)
@given(st.lists(STEP, max_size=12))
def test_c_and_twin_sets_scan_alike(tmp_path_factory: pytest.TempPathFactory,
                                    steps: list[tuple]) -> None:  # type: ignore[type-arg]
    where = tmp_path_factory.mktemp("cg")
    c, twin = NativeCgroupFiles(native()), CgroupFilesTwin()
    paths: list[Path] = []
    for step in steps:
        if step[0] == "open":
            files = []
            for kind, text, exists in step[1]:
                path = where / f"f{len(paths)}"
                paths.append(path)
                if exists:
                    path.write_bytes(text)
                files.append(StatFile(str(path), kind, "usage_usec" if kind == KEYED else None))
            assert c.open(files) == twin.open(files)
        elif step[0] == "close":
            c.close(step[1])
            twin.close(step[1])
        elif step[0] == "rewrite" and paths:
            path = paths[step[1] % len(paths)]
            if path.exists():
                with open(path, "r+b") as handle:  # same inode: the open descriptors see it
                    handle.truncate(0)
                    handle.write(step[2])
        assert c.scan() == twin.scan()


def test_slots_are_reused_and_missing_files_scan_as_missing(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("5\n")
    for files in (NativeCgroupFiles(native()), CgroupFilesTwin()):
        first = files.open([StatFile(str(tmp_path / "a"), INTEGER),
                            StatFile(str(tmp_path / "nope"), INTEGER)])
        assert first == [0, 1]
        assert files.scan() == [(OK, 5, 0), (MISSING, 0, 0)]
        files.close([0])
        assert files.open([StatFile(str(tmp_path / "a"), KEYED, "x")]) == [0]
        assert files.scan() == [(BAD, 0, 0), (MISSING, 0, 0)]


def test_a_large_file_is_read_whole_and_a_huge_one_is_bad(tmp_path: Path) -> None:
    big = b"".join(b"8:%d Read %d\n" % (i, i) for i in range(20000))  # ~250 KiB
    (tmp_path / "big").write_bytes(big)
    (tmp_path / "huge").write_bytes(b"0" * (1 << 20))
    expected = [(OK, sum(range(20000)), 0), (BAD, 0, 0)]
    for files in (NativeCgroupFiles(native()), CgroupFilesTwin()):
        files.open([StatFile(str(tmp_path / "big"), BLKIO_V1),
                    StatFile(str(tmp_path / "huge"), INTEGER)])
        assert files.scan() == expected


def test_bad_requests_are_refused_before_anything_opens(tmp_path: Path) -> None:
    for files in (NativeCgroupFiles(native()), CgroupFilesTwin()):
        with pytest.raises(ValueError, match="key"):
            files.open([StatFile(str(tmp_path / "a"), KEYED, "two words")])
        with pytest.raises(ValueError, match="kind"):
            files.open([StatFile(str(tmp_path / "a"), 9)])
        assert files.scan() == []
