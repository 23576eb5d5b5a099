"""Opening the registry: connection settings, migrations and transactions.

Why these settings:
- WAL lets the daemon and the CLI read while the other writes; a writer
  holds the lock only for the few statements of one short transaction.
- `synchronous=FULL`: every COMMIT fsyncs the WAL before returning. A Pi
  loses power far more often than a server, and the DHCP server answers only
  after a lease is committed, so a committed row must survive a power cut,
  not just a killed process (NORMAL in WAL mode only survives the latter).
  Callers that write a lot batch rows into one transaction instead.
- Write transactions start with BEGIN IMMEDIATE: taking the write lock up
  front means the busy timeout applies; a deferred transaction that later
  upgrades from read to write can fail at once with "database is locked".
- Foreign keys are off by default in SQLite and must be set per connection.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from foundation.errors import RegistryError
from foundation.registry.schema import APPLICATION_ID, MIGRATIONS, SCHEMA_VERSION

REGISTRY_FILE = "registry.db"
BUSY_TIMEOUT_S = 5.0

_savepoints = itertools.count()


def registry_path(state_dir: Path | str) -> Path:
    """Where the registry lives inside a state directory."""
    return Path(state_dir) / REGISTRY_FILE


def open_registry(state_dir: Path | str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open (creating and migrating if needed) `registry.db` in `state_dir`."""
    return connect(registry_path(state_dir), check_same_thread=check_same_thread)


def connect(path: Path | str, *, check_same_thread: bool = True) -> sqlite3.Connection:
    """Open the registry file at `path`, migrate it to this code's schema, and return it.

    Raises RegistryError (one line: what, where, how to fix) for a file that
    is not a SQLite database, belongs to another program, is newer than this
    code, or cannot be opened.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise RegistryError(
            f"{path}: state directory {path.parent} does not exist — create it or pass --state-dir"
        )
    try:
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=check_same_thread
        )
    except sqlite3.Error as error:
        raise RegistryError(
            f"{path}: cannot open the registry ({error}) — check the path and its permissions"
        ) from None
    try:
        _configure(conn, path)
        migrate(conn, path)
        check_schema(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection, path: Path) -> None:
    conn.row_factory = sqlite3.Row
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    while True:
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            # The first read of the file: this is where a non-database file is noticed.
            application_id = conn.execute("PRAGMA application_id").fetchone()[0]
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            break
        except sqlite3.OperationalError as error:
            # Switching a new file to WAL needs an exclusive lock, and SQLite reports
            # SQLITE_BUSY there without calling the busy handler: retry ourselves.
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise _not_a_registry(path, error) from None
            time.sleep(0.02)
        except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
            # A corrupt file can make SQLite hand back undecodable text (fuzzing found this).
            raise _not_a_registry(path, error) from None
    if application_id not in (0, APPLICATION_ID):
        raise RegistryError(
            f"{path}: this SQLite database belongs to another program (application_id "
            f"{application_id:#x}) — point --state-dir at the appliance's state directory"
        )
    if str(mode).lower() != "wal":
        raise RegistryError(
            f"{path}: SQLite could not switch to WAL mode (got {mode!r}) — put the state "
            "directory on a local file system"
        )


def _not_a_registry(path: Path, error: Exception) -> RegistryError:
    if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
        return RegistryError(
            f"{path}: the registry stayed locked for {BUSY_TIMEOUT_S:g} s — another process holds it; retry"
        )
    # SQLite may quote schema text (several lines) from a corrupt file: keep the message one line.
    detail = " ".join(str(error).split())
    if len(detail) > 120:
        detail = detail[:117] + "..."
    return RegistryError(
        f"{path}: not a usable SQLite database ({detail}) — move the file aside; "
        "the appliance creates a new registry on the next start"
    )


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version stored in the database (0 for a new, empty file)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, path: Path | str = REGISTRY_FILE) -> int:
    """Apply the missing migration steps in order, one transaction each; return the version."""
    try:
        version = _check_version(conn, path)
        while version < SCHEMA_VERSION:
            with transaction(conn):
                # Another process may have migrated while we waited for the lock.
                version = _check_version(conn, path)
                if version >= SCHEMA_VERSION:
                    break
                if version == 0:
                    _refuse_foreign_tables(conn, path)
                for statement in MIGRATIONS[version]:
                    conn.execute(statement)
                version += 1
                conn.execute(f"PRAGMA user_version = {version}")
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        raise _not_a_registry(Path(path), error) from None
    return version


@functools.lru_cache(maxsize=4)
def _expected_schema(migrations: tuple[tuple[str, ...], ...]) -> frozenset[tuple[str, str, str]]:
    """The sqlite_schema rows a database gets from `migrations` (built in memory)."""
    memory = sqlite3.connect(":memory:", isolation_level=None)
    try:
        for step in migrations:
            for statement in step:
                memory.execute(statement)
        return frozenset(memory.execute(_SCHEMA_ROWS).fetchall())
    finally:
        memory.close()


_SCHEMA_ROWS = (
    "SELECT type, name, coalesce(sql, '') FROM sqlite_schema WHERE name NOT LIKE 'sqlite_%'"
)


def check_schema(conn: sqlite3.Connection, path: Path | str = REGISTRY_FILE) -> None:
    """Refuse a file whose tables differ from what the migrations build (altered or corrupt)."""
    try:
        actual = frozenset(tuple(row) for row in conn.execute(_SCHEMA_ROWS))
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        raise _not_a_registry(Path(path), error) from None
    expected = _expected_schema(MIGRATIONS)
    if actual != expected:
        differing = sorted({row[1] for row in actual ^ expected})
        raise RegistryError(
            f"{path}: the registry's tables differ from schema version {SCHEMA_VERSION} "
            f"({', '.join(differing[:5])}) — the file was altered or is corrupt; move it aside"
        )


def check_integrity(conn: sqlite3.Connection, path: Path | str = REGISTRY_FILE) -> None:
    """Full page-level check (reads the whole file: for daemon start and `doctor`, not every open)."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check(5)")]
    except (sqlite3.DatabaseError, UnicodeDecodeError) as error:
        raise _not_a_registry(Path(path), error) from None
    if problems != ["ok"]:
        detail = " ".join("; ".join(problems).split())[:160]
        raise RegistryError(
            f"{path}: the registry is corrupt ({detail}) — move it aside and restart"
        )


def _check_version(conn: sqlite3.Connection, path: Path | str) -> int:
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise RegistryError(
            f"{path} has schema version {version}, this appliance knows up to "
            f"{SCHEMA_VERSION} — upgrade the appliance"
        )
    return version


def _refuse_foreign_tables(conn: sqlite3.Connection, path: Path | str) -> None:
    tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")]
    if tables:
        raise RegistryError(
            f"{path}: SQLite database of another program (tables {', '.join(tables[:5])}) — "
            "point --state-dir at the appliance's state directory"
        )


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction: BEGIN IMMEDIATE … COMMIT, or a savepoint when already inside one.

    Every registry function that writes runs inside this, so a caller can
    group several of them into one atomic, single-fsync transaction by
    wrapping them in an outer `with transaction(conn):`.
    """
    if conn.in_transaction:
        name = f"sp{next(_savepoints)}"
        conn.execute(f"SAVEPOINT {name}")
        try:
            yield conn
        except BaseException:
            # SQLite itself rolls back the whole transaction on some errors (disk full,
            # I/O error); then the savepoint is gone and the outer level reports it.
            if conn.in_transaction:
                conn.execute(f"ROLLBACK TO {name}")
                conn.execute(f"RELEASE {name}")
            raise
        conn.execute(f"RELEASE {name}")
        return
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        raise _not_a_registry(Path(_db_file(conn)), error) from None
    try:
        yield conn
        conn.execute("COMMIT")
    except sqlite3.OperationalError as error:
        # Disk full, I/O error, read-only file: nothing of this transaction was kept.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise _write_failed(_db_file(conn), error) from error
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _write_failed(path: str, error: sqlite3.Error) -> RegistryError:
    detail = " ".join(str(error).split())[:120]
    return RegistryError(
        f"{path}: writing the registry failed ({detail}); nothing was changed — check the free "
        "space and permissions of the state directory"
    )


def _db_file(conn: sqlite3.Connection) -> str:
    row = conn.execute("PRAGMA database_list").fetchone()
    return str(row[2]) if row is not None else REGISTRY_FILE
