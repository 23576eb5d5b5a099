"""Opening the registry: settings, migrations, refusals, transactions."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from foundation import registry
from foundation.errors import RegistryError
from foundation.registry import db, schema

TABLES = {"nodes", "leases", "tokens", "jobs", "job_log", "events", "agent_credentials",
          "host_keys"}


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")
    return {row[0] for row in rows} - {"sqlite_sequence"}


def test_migrates_an_empty_state_dir(tmp_path: Path) -> None:
    conn = registry.open_registry(tmp_path)
    assert (tmp_path / "registry.db").is_file()
    assert registry.schema_version(conn) == registry.SCHEMA_VERSION == len(schema.MIGRATIONS)
    assert _tables(conn) == TABLES
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert conn.execute("PRAGMA application_id").fetchone()[0] == schema.APPLICATION_ID
    conn.close()


def test_reopening_keeps_rows_and_version(tmp_path: Path) -> None:
    conn = registry.open_registry(tmp_path)
    registry.append_event(conn, kind="test", node=None, message="kept", now=1.0)
    conn.close()
    conn = registry.open_registry(tmp_path)
    assert registry.schema_version(conn) == registry.SCHEMA_VERSION
    assert [event.message for event in registry.list_events(conn)] == ["kept"]
    conn.close()


def test_migration_steps_run_in_order_each_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = ("CREATE TABLE later (x INTEGER) STRICT",)
    broken = ("CREATE TABLE half (x INTEGER) STRICT", "THIS IS NOT SQL")
    monkeypatch.setattr(db, "MIGRATIONS", (*schema.MIGRATIONS, extra, broken))
    monkeypatch.setattr(db, "SCHEMA_VERSION", len(schema.MIGRATIONS) + 2)
    with pytest.raises(RegistryError, match="syntax error"):
        registry.open_registry(tmp_path)
    conn = sqlite3.connect(tmp_path / "registry.db")
    # Steps 1 and 2 committed; the broken step 3 left nothing behind, not even its first table.
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(schema.MIGRATIONS) + 1
    names = {row[0] for row in conn.execute("SELECT name FROM sqlite_schema")}
    assert "later" in names and "half" not in names
    conn.close()


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    registry.open_registry(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "registry.db")
    raw.execute(f"PRAGMA user_version = {registry.SCHEMA_VERSION + 3}")
    raw.commit()
    raw.close()
    with pytest.raises(RegistryError) as caught:
        registry.open_registry(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path / 'registry.db'} has schema version {registry.SCHEMA_VERSION + 3}, "
        f"this appliance knows up to {registry.SCHEMA_VERSION} — upgrade the appliance"
    )


@pytest.mark.parametrize(
    "content",
    [
        b"this is a text file, not a database\n" * 10,
        b"\x00" * 4096,
        b"SQLite format 3\x00" + b"\xff" * 600,
        bytes(range(256)) * 8,
    ],
)
def test_garbage_file_is_refused_with_one_line(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "registry.db").write_bytes(content)
    with pytest.raises(RegistryError) as caught:
        registry.open_registry(tmp_path)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(str(tmp_path / "registry.db"))
    assert "move the file aside" in message
    assert (
        tmp_path / "registry.db"
    ).read_bytes() == content  # never "repaired" behind the user's back


def test_other_programs_database_is_refused(tmp_path: Path) -> None:
    raw = sqlite3.connect(tmp_path / "registry.db")
    raw.execute("CREATE TABLE photos (id INTEGER)")
    raw.commit()
    raw.close()
    with pytest.raises(RegistryError, match="another program"):
        registry.open_registry(tmp_path)
    raw = sqlite3.connect(tmp_path / "registry.db")
    raw.execute("PRAGMA application_id = 42")
    raw.commit()
    raw.close()
    with pytest.raises(RegistryError, match="application_id 0x2a"):
        registry.open_registry(tmp_path)


def test_altered_schema_is_refused(tmp_path: Path) -> None:
    registry.open_registry(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "registry.db")
    raw.execute("ALTER TABLE nodes ADD COLUMN colour TEXT")
    raw.commit()
    raw.close()
    with pytest.raises(
        RegistryError, match=rf"tables differ from schema version {registry.SCHEMA_VERSION} \(nodes\)"
    ):
        registry.open_registry(tmp_path)


def test_integrity_check_finds_a_damaged_page(tmp_path: Path) -> None:
    conn = registry.open_registry(tmp_path)
    registry.check_integrity(conn)
    for n in range(300):
        registry.append_event(conn, kind="k", node=None, message="x" * 200, now=float(n))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    path = tmp_path / "registry.db"
    content = bytearray(path.read_bytes())
    page = len(content) // 4096 - 2  # a full page near the end: events rows or their index
    content[page * 4096 + 8 : page * 4096 + 200] = b"\xff" * 192
    path.write_bytes(bytes(content))
    conn = registry.open_registry(tmp_path)  # the schema is intact, so opening works ...
    with pytest.raises(RegistryError, match="the registry is corrupt"):
        registry.check_integrity(conn)  # ... and the full check finds the damage
    conn.close()


def test_missing_state_dir_is_named(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="does not exist"):
        registry.open_registry(tmp_path / "nope")


@settings(max_examples=150, deadline=None)
@given(st.binary(min_size=1, max_size=3000))
def test_any_file_content_opens_or_gives_registry_error(content: bytes) -> None:
    with tempfile.TemporaryDirectory() as state_dir:
        (Path(state_dir) / "registry.db").write_bytes(content)
        try:
            conn = registry.open_registry(state_dir)
        except RegistryError as error:
            assert "\n" not in str(error)
        else:  # pragma: no cover - random bytes are practically never a database
            assert registry.schema_version(conn) == registry.SCHEMA_VERSION
            conn.close()


def _valid_registry_bytes() -> bytes:
    with tempfile.TemporaryDirectory() as state_dir:
        conn = registry.open_registry(state_dir)
        registry.append_event(conn, kind="k", node=None, message="m", now=1.0)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")
        conn.close()
        return (Path(state_dir) / "registry.db").read_bytes()


VALID = _valid_registry_bytes()


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), min_size=1, max_size=8)
)
def test_mutated_registry_opens_or_gives_registry_error(flips: list[tuple[int, int]]) -> None:
    content = bytearray(VALID)
    for offset, value in flips:
        content[offset] = value
    with tempfile.TemporaryDirectory() as state_dir:
        (Path(state_dir) / "registry.db").write_bytes(bytes(content))
        try:
            registry.open_registry(state_dir).close()
        except RegistryError as error:
            assert "\n" not in str(error)


def test_nested_transaction_is_a_savepoint(tmp_path: Path) -> None:
    conn = registry.open_registry(tmp_path)
    with registry.transaction(conn):
        registry.append_event(conn, kind="outer", node=None, message="a", now=1.0)
        with pytest.raises(RuntimeError), registry.transaction(conn):
            registry.append_event(conn, kind="inner", node=None, message="b", now=2.0)
            raise RuntimeError("inner fails")
        registry.append_event(conn, kind="outer", node=None, message="c", now=3.0)
    assert [event.message for event in registry.list_events(conn)] == ["a", "c"]
    with pytest.raises(RuntimeError), registry.transaction(conn):
        registry.append_event(conn, kind="outer", node=None, message="d", now=4.0)
        raise RuntimeError("outer fails")
    assert [event.message for event in registry.list_events(conn)] == ["a", "c"]
    assert not conn.in_transaction
    conn.close()


def test_a_second_connection_reads_while_one_writes(tmp_path: Path) -> None:
    writer = registry.open_registry(tmp_path)
    reader = registry.open_registry(tmp_path)
    registry.append_event(writer, kind="k", node=None, message="before", now=1.0)
    with registry.transaction(writer):
        registry.append_event(writer, kind="k", node=None, message="uncommitted", now=2.0)
        # WAL: the reader is not blocked and sees only committed rows.
        assert [event.message for event in registry.list_events(reader)] == ["before"]
    assert len(registry.list_events(reader)) == 2
    writer.close()
    reader.close()


def test_full_disk_is_a_registry_error_and_rolls_back(tmp_path: Path) -> None:
    conn = registry.open_registry(tmp_path)
    registry.append_event(conn, kind="k", node=None, message="before", now=1.0)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # the file may not grow: "disk full"
    with pytest.raises(
        RegistryError, match="writing the registry failed .*database or disk is full"
    ):
        with registry.transaction(conn):
            for n in range(500):
                registry.append_event(conn, kind="k", node=None, message="x" * 500, now=float(n))
    assert not conn.in_transaction
    assert [event.message for event in registry.list_events(conn)] == ["before"]
    registry.append_event(conn, kind="k", node=None, message="small", now=2.0)  # still usable
    conn.close()
