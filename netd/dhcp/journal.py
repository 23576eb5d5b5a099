"""Durable lease journal: an append-only log plus a compacted snapshot (as Kea's memfile + LFC).

Layout in the state directory (`dhcp/`):
- `leases.snapshot`: every live fact at generation G (first line `#gen G`), written to a
  temporary file, fsync'd and renamed into place, so it is always whole.
- `leases.journal.G`: records appended after snapshot G, one line each, with a CRC-32
  of the line, in group commits (one write + one fsync per loop turn, before that
  turn's ACKs leave).

Recovery reads the snapshot, then every journal with generation ≥ G in order; a
record whose checksum fails is a torn write from a crash: it and anything after it
in that file are ignored (the file is cut there). Journals older than the snapshot
are already folded into it and are deleted. A torn record was never fsync'd, so its
ACK never left: no acknowledged lease can be lost.

Compaction starts a new journal generation at once (appends continue there) and
writes the snapshot of the state at that moment in a worker thread.
"""

from __future__ import annotations

import logging
import os
import re
import zlib
from pathlib import Path

from foundation.errors import EnvironmentProblem
from netd.dhcp.model import LeaseRecord

log = logging.getLogger(__name__)

SNAPSHOT = "leases.snapshot"
JOURNAL_PREFIX = "leases.journal."


def encode(record: LeaseRecord) -> bytes:
    """One journal line: `crc32 state address mac client_id name hostname expires`."""
    body = (f"{record.state} {record.address} {record.mac.hex() or '-'} "
            f"{record.client_id.hex() if record.client_id is not None else '-'} "
            f"{_token(record.name)} {_token(record.hostname)} {record.expires:.3f}").encode()
    return b"%08x %s\n" % (zlib.crc32(body), body)


_SAFE_TOKEN = re.compile(r"[A-Za-z0-9._-]+")


def _token(text: str | None) -> str:
    if not text:
        return "-"
    if _SAFE_TOKEN.fullmatch(text):
        return text
    # Names are DNS labels by construction; never let one break the line format.
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_.") else "_" for c in text)


def decode(line: bytes) -> LeaseRecord | None:
    """The record of one line, or None when the line is torn or corrupt."""
    if not line.endswith(b"\n") or len(line) < 10:
        return None
    crc, _, body = line[:-1].partition(b" ")
    try:
        if int(crc, 16) != zlib.crc32(body):
            return None
        state, address, mac, cid, name, hostname, expires = body.decode().split(" ")
        return LeaseRecord(
            state=int(state), address=int(address),
            mac=b"" if mac == "-" else bytes.fromhex(mac),
            client_id=None if cid == "-" else bytes.fromhex(cid),
            name="" if name == "-" else name, hostname=None if hostname == "-" else hostname,
            expires=float(expires),
        )
    except ValueError:
        return None


class Journal:
    """Appends records durably and rewrites them compactly."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.generation = 0
        self.appended = 0
        """Records appended since the last compaction."""
        self.torn = 0
        """Torn or corrupt records skipped while loading."""
        self._fd = -1

    def load(self) -> list[LeaseRecord]:
        """Read snapshot + journals (creating the directory), open the journal for appending."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EnvironmentProblem(
                f"cannot create lease directory {self.directory}: {error.strerror}; "
                "pass a writable --state-dir") from error
        records: list[LeaseRecord] = []
        snapshot = self.directory / SNAPSHOT
        if snapshot.exists():
            lines = snapshot.read_bytes().splitlines(keepends=True)
            if lines and lines[0].startswith(b"#gen ") and lines[0][5:].strip().isdigit():
                self.generation = int(lines[0][5:])
                decoded = [decode(line) for line in lines[1:]]
                records += [r for r in decoded if r is not None]
                self.torn += decoded.count(None)
            else:
                log.error("lease snapshot %s has no '#gen N' header: ignored (damaged outside netd?)",
                          snapshot)
        for generation, path in self._journals():
            if generation < self.generation:
                path.unlink()
                continue
            records += self._read_journal(path)
            self.generation = generation
        self._open(self.generation)
        return records

    def _journals(self) -> list[tuple[int, Path]]:
        found = []
        for path in self.directory.glob(JOURNAL_PREFIX + "*"):
            suffix = path.name[len(JOURNAL_PREFIX):]
            if suffix.isdigit():
                found.append((int(suffix), path))
        return sorted(found)

    def _read_journal(self, path: Path) -> list[LeaseRecord]:
        data = path.read_bytes()
        records, offset = [], 0
        for line in data.splitlines(keepends=True):
            record = decode(line)
            if record is None:
                self.torn += 1
                log.warning("lease journal %s: torn record at byte %d ignored (crash while writing)",
                            path, offset)
                with open(path, "r+b") as handle:
                    handle.truncate(offset)
                    os.fsync(handle.fileno())
                break
            records.append(record)
            offset += len(line)
        return records

    def _open(self, generation: int) -> None:
        path = self.directory / f"{JOURNAL_PREFIX}{generation}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if self._fd >= 0:
            os.close(self._fd)
        self._fd = fd
        self.generation = generation
        self._sync_directory()

    def append(self, records: list[LeaseRecord]) -> None:
        """Write and fsync `records` as one group commit."""
        self.write(records)
        self.sync()

    def write(self, records: list[LeaseRecord]) -> None:
        """Append `records` (not yet durable: `sync` makes everything written so far durable)."""
        if not records:
            return
        os.write(self._fd, b"".join(encode(r) for r in records))
        self.appended += len(records)

    def sync(self) -> None:
        """fsync the journal (safe to call from a worker thread while the loop keeps writing)."""
        os.fsync(self._fd)

    def start_compaction(self) -> tuple[int, Path]:
        """Begin a new journal generation; return (generation, old journal) for finish_compaction."""
        old = self.directory / f"{JOURNAL_PREFIX}{self.generation}"
        self._open(self.generation + 1)
        self.appended = 0
        return self.generation, old

    def finish_compaction(self, generation: int, old_journal: Path, records: list[LeaseRecord]) -> None:
        """Write the snapshot of generation `generation` (safe to run in a worker thread)."""
        temporary = self.directory / (SNAPSHOT + ".tmp")
        with open(temporary, "wb") as handle:
            handle.write(b"#gen %d\n" % generation)
            handle.write(b"".join(encode(r) for r in records))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / SNAPSHOT)
        self._sync_directory()
        old_journal.unlink(missing_ok=True)

    def _sync_directory(self) -> None:
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        """Close the append handle."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
