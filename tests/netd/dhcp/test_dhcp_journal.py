"""The lease journal: round trips, torn and corrupt records, generations and compaction,
and hostile files (only a clean load or skipped records, never an exception)."""

from __future__ import annotations

import os
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netd.dhcp.journal import JOURNAL_PREFIX, SNAPSHOT, Journal, decode, encode
from netd.dhcp.leases import BOUND, RELEASED
from netd.dhcp.model import DECLINED, LeaseRecord


def record(n: int, state: int = BOUND, name: str | None = None) -> LeaseRecord:
    return LeaseRecord(state, 0x0A000000 + n, bytes((2, 0, 0, 0, 0, n & 255)),
                       b"\x01" + bytes(6) if n % 2 else None, name or f"node-{n}",
                       "pi" if n % 3 else None, 1000.5 + n)


def test_encode_decode_round_trip() -> None:
    for n in range(1, 8):
        assert decode(encode(record(n))) == record(n)
    assert decode(encode(LeaseRecord(DECLINED, 5, b"", None, "", None, 9.0))) == \
        LeaseRecord(DECLINED, 5, b"", None, "", None, 9.0)


def test_hostile_names_cannot_break_the_line_format() -> None:
    line = encode(record(1, name="evil name\nwith 0 spaces"))
    assert line.count(b"\n") == 1
    assert decode(line) is not None and decode(line).name == "evil_name_with_0_spaces"  # type: ignore[union-attr]


def test_append_load_and_torn_tail(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    assert journal.load() == []
    journal.append([record(1), record(2)])
    journal.append([record(3)])
    journal.close()
    path = tmp_path / f"{JOURNAL_PREFIX}0"
    whole = path.read_bytes()
    path.write_bytes(whole + encode(record(4))[:-7])  # a crash in the middle of a write
    again = Journal(tmp_path)
    assert again.load() == [record(1), record(2), record(3)]
    assert again.torn == 1
    assert path.read_bytes() == whole  # the torn tail was cut, appends continue cleanly
    again.append([record(5)])
    again.close()
    assert Journal(tmp_path).load() == [record(1), record(2), record(3), record(5)]


def test_a_corrupt_record_stops_replay_of_that_file(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.load()
    journal.append([record(1), record(2), record(3)])
    journal.close()
    path = tmp_path / f"{JOURNAL_PREFIX}0"
    data = bytearray(path.read_bytes())
    second = data.index(b"\n") + 12
    data[second] ^= 0x01  # one flipped bit in the second record
    path.write_bytes(bytes(data))
    assert Journal(tmp_path).load() == [record(1)]


def test_compaction_generations(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.load()
    journal.append([record(1), record(2)])
    generation, old = journal.start_compaction()
    journal.append([record(3)])  # lands in the new generation while the snapshot is written
    journal.finish_compaction(generation, old, [record(1), record(2, RELEASED)])
    journal.close()
    assert not old.exists()
    assert (tmp_path / SNAPSHOT).read_bytes().startswith(b"#gen 1\n")
    assert Journal(tmp_path).load() == [record(1), record(2, RELEASED), record(3)]


def test_crash_after_snapshot_before_old_journal_is_deleted(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.load()
    journal.append([record(1)])
    generation, old = journal.start_compaction()
    kept = old.read_bytes()
    journal.finish_compaction(generation, old, [record(1, RELEASED)])
    journal.close()
    old.write_bytes(kept)  # as if the process died before unlink
    loaded = Journal(tmp_path)
    assert loaded.load() == [record(1, RELEASED)]  # the stale generation is not replayed
    assert not old.exists()


def test_crash_before_snapshot_rename_replays_both_journals(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.load()
    journal.append([record(1)])
    journal.start_compaction()
    journal.append([record(2)])
    journal.close()
    (tmp_path / (SNAPSHOT + ".tmp")).write_bytes(b"#gen 1\ngarbage")  # never renamed
    assert Journal(tmp_path).load() == [record(1), record(2)]


@given(st.binary(max_size=300))
def test_decode_never_raises(line: bytes) -> None:
    decoded = decode(line)
    assert decoded is None or isinstance(decoded, LeaseRecord)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(snapshot=st.binary(max_size=400), journal_bytes=st.binary(max_size=400),
       name=st.sampled_from(["0", "1", "7", "x", "-1"]))
def test_hostile_files_load_without_errors(tmp_path_factory: object, snapshot: bytes,
                                           journal_bytes: bytes, name: str) -> None:
    directory = Path(os.path.join(str(tmp_path_factory.mktemp("j")), "dhcp"))  # type: ignore[attr-defined]
    directory.mkdir()
    (directory / SNAPSHOT).write_bytes(b"#gen 0\n" + snapshot)
    (directory / f"{JOURNAL_PREFIX}{name}").write_bytes(journal_bytes)
    journal = Journal(directory)
    records = journal.load()
    journal.append([record(9)])
    journal.close()
    assert Journal(directory).load()[-1:] == [record(9)]
    assert all(isinstance(r, LeaseRecord) for r in records)
