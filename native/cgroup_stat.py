"""cgroup files kept open and read at offset 0: the C set (`NativeCgroupFiles`) and its twin.

A caller opens the files it wants to watch once (each with the KIND that
says how to read it), then every `scan()` reads all of them: C does one
pread per file in one call for the whole set; the twin does the same with
os.pread. Each slot scans to (status, first, second): OK with the value(s),
UNLIMITED ("max"), MISSING (could not be opened, or closed), GONE (the
cgroup was removed after the file was opened) or BAD (not in the expected
format). Both give identical results for every file (tests/native prove it).
Standard library only, so the node agent runs the twin without cffi.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, overload

from native._loader import Native, load

INTEGER = 0
"""The file is one number or "max" (memory.current, memory.max, pids.current, cpuacct.usage)."""
KEYED = 1
"""The value of the line "<key> <n>" (cpu.stat's usage_usec)."""
IO_V2 = 2
"""io.stat: (sum of rbytes=, sum of wbytes=) over devices."""
BLKIO_V1 = 3
"""blkio.throttle.io_service_bytes: (sum of Read lines, sum of Write lines)."""

OK = 0
UNLIMITED = 1
MISSING = 2
GONE = 3
BAD = 4
STATUS_NAMES = ("ok", "unlimited", "missing", "gone", "bad")

MAX_KEY = 64
MAX_FILE = 1 << 20
"""Files this long or longer are BAD (no cgroup file comes near)."""
_INT64_MAX = (1 << 63) - 1
_GONE_ERRNOS = (errno.ENODEV, errno.ENOENT, errno.ESTALE)

Reading = tuple[int, int, int]
"""(status, first value, second value) of one slot."""


@dataclass(frozen=True)
class StatFile:
    """One file to watch."""

    path: str
    """Absolute path of the cgroup file."""
    kind: int
    """INTEGER, KEYED, IO_V2 or BLKIO_V1."""
    key: str | None = None
    """The line's key for KEYED, else None."""


def _check(file: StatFile) -> None:
    if file.kind not in (INTEGER, KEYED, IO_V2, BLKIO_V1):
        raise ValueError(f"{file.path}: unknown kind {file.kind!r}")
    if file.kind == KEYED:
        key = (file.key or "").encode()
        if not 0 < len(key) <= MAX_KEY or any(c in key for c in b" \n\0"):
            raise ValueError(f"{file.path}: key must be 1-{MAX_KEY} bytes without spaces")
    if "\0" in file.path:
        raise ValueError(f"{file.path!r}: NUL in a path")


def _number(field: bytes) -> int:
    if not 1 <= len(field) <= 19 or not field.isdigit():
        return -1
    value = int(field)
    return value if value <= _INT64_MAX else -1


def _add(total: int, value: int) -> int:
    """total + value, or -1 when value is invalid or the sum passes INT64_MAX."""
    if value < 0 or total > _INT64_MAX - value:
        return -1
    return total + value


def _no_nul(key: str | None) -> None:
    if key is not None and "\0" in key:
        raise ValueError(f"{key!r}: NUL in a key")


def parse(kind: int, key: str | None, text: bytes) -> Reading:
    """Twin of appl_cg_parse: the reading of one file's text (ValueError for a NUL in `key`)."""
    _no_nul(key)
    if kind == INTEGER:
        body = text[:-1] if text.endswith(b"\n") else text
        if body == b"max":
            return UNLIMITED, 0, 0
        value = _number(body)
        return (OK, value, 0) if value >= 0 else (BAD, 0, 0)
    lines = text.split(b"\n")
    if kind == KEYED:
        name = (key or "").encode()
        if not 0 < len(name) <= MAX_KEY or any(c in name for c in b" \n\0"):
            return BAD, 0, 0
        for line in lines:
            if len(line) > len(name) and line.startswith(name) and line[len(name)] == 0x20:
                value = _number(line[len(name) + 1 :])
                return (OK, value, 0) if value >= 0 else (BAD, 0, 0)
        return BAD, 0, 0
    if kind not in (IO_V2, BLKIO_V1):
        return BAD, 0, 0
    first = second = 0
    for line in lines:
        fields = line.split(b" ")
        if kind == IO_V2:
            pairs = [(f[:7], f[7:]) for f in fields[1:]]
            reads = [v for name, v in pairs if name == b"rbytes="]
            writes = [v for name, v in pairs if name == b"wbytes="]
        elif len(fields) == 3:
            reads = [fields[2]] if fields[1] == b"Read" else []
            writes = [fields[2]] if fields[1] == b"Write" else []
        else:
            continue
        for field in reads:
            first = _add(first, _number(field))
            if first < 0:
                return BAD, 0, 0
        for field in writes:
            second = _add(second, _number(field))
            if second < 0:
                return BAD, 0, 0
    return OK, first, second


class Scan(Sequence[Reading]):
    """The readings of one scan, by slot: status[i], values[2 i], values[2 i + 1].

    From the C set it is a view of the set's own arrays (no per-slot objects are made
    until a slot is read), valid until the set's next scan.
    """

    def __init__(self, status: Sequence[int], values: Sequence[int]) -> None:
        self.status = status
        """Status of each slot."""
        self.values = values
        """Two values per slot."""

    def __len__(self) -> int:
        return len(self.status)

    @overload
    def __getitem__(self, index: int) -> Reading: ...

    @overload
    def __getitem__(self, index: slice) -> list[Reading]: ...

    def __getitem__(self, index: int | slice) -> Reading | list[Reading]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        if index < 0:
            index += len(self)
        return self.status[index], self.values[2 * index], self.values[2 * index + 1]

    def __iter__(self) -> Iterator[Reading]:
        return (self[i] for i in range(len(self)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Scan({list(self)!r})"


class CgroupFiles(Protocol):
    """What the C set and its twin both offer."""

    def open(self, files: Sequence[StatFile]) -> list[int]:
        """Open files into free slots; their slot numbers, in order."""

    def close(self, slots: Sequence[int]) -> None:
        """Close slots (they scan as MISSING and are reused)."""

    def scan(self) -> Scan:
        """Read every slot, in slot order."""


def _read_whole(fd: int) -> bytes:
    """Twin of cgroup_stat.c's read_whole (same chunk sizes, same end rule)."""
    data = b""
    size = 4096
    while True:
        if len(data) == size:
            if size >= MAX_FILE:
                raise OSError(errno.EFBIG, "cgroup file too large")
            size *= 2
        wanted = size - len(data)
        chunk = os.pread(fd, wanted, len(data))
        data += chunk
        if len(chunk) < wanted:
            return data


class CgroupFilesTwin:
    """Pure-Python twin of NativeCgroupFiles."""

    def __init__(self) -> None:
        self._slots: list[tuple[int, StatFile] | None] = []

    def open(self, files: Sequence[StatFile]) -> list[int]:
        for file in files:
            _check(file)
        numbers = []
        next_free = 0
        for file in files:
            while next_free < len(self._slots) and self._slots[next_free] is not None:
                next_free += 1
            if next_free == len(self._slots):
                self._slots.append(None)
            try:
                fd = os.open(file.path, os.O_RDONLY | os.O_CLOEXEC)
            except OSError:
                fd = -1
            self._slots[next_free] = (fd, file)
            numbers.append(next_free)
        return numbers

    def close(self, slots: Sequence[int]) -> None:
        for number in slots:
            if 0 <= number < len(self._slots):
                entry = self._slots[number]
                if entry is not None and entry[0] >= 0:
                    os.close(entry[0])
                self._slots[number] = None

    def scan(self) -> Scan:
        status: list[int] = []
        values: list[int] = []
        for entry in self._slots:
            if entry is None or entry[0] < 0:
                status.append(MISSING)
                values += (0, 0)
                continue
            fd, file = entry
            try:
                text = _read_whole(fd)
            except OSError as error:
                status.append(GONE if error.errno in _GONE_ERRNOS else BAD)
                values += (0, 0)
                continue
            reading = parse(file.kind, file.key, text)
            status.append(reading[0])
            values += reading[1:]
        return Scan(status, values)

    def __del__(self) -> None:
        self.close(range(len(self._slots)))


class NativeCgroupFiles:
    """The set in C (native/src/cgroup_stat.c)."""

    def __init__(self, native: Native) -> None:
        self.native = native
        ffi, lib = native.ffi, native.lib
        raw = lib.appl_cg_set_new()
        if raw == ffi.NULL:
            raise MemoryError("no memory for the cgroup file set")
        self._set = ffi.gc(raw, lib.appl_cg_set_free)
        self._capacity = 0
        self._status = ffi.new("int32_t[]", 1)
        self._values = ffi.new("int64_t[]", 2)
        self._status_view = memoryview(ffi.buffer(self._status)).cast("i")
        self._values_view = memoryview(ffi.buffer(self._values)).cast("q")

    def open(self, files: Sequence[StatFile]) -> list[int]:
        for file in files:
            _check(file)
        if not files:
            return []
        ffi, lib = self.native.ffi, self.native.lib
        keep = [ffi.new("char[]", f.path.encode()) for f in files]
        keys = [ffi.new("char[]", f.key.encode()) if f.key else ffi.NULL for f in files]
        slots = ffi.new("int32_t[]", len(files))
        result = lib.appl_cg_set_open(
            self._set, ffi.new("char *[]", keep), ffi.new("int[]", [f.kind for f in files]),
            ffi.new("char *[]", keys), len(files), slots,
        )
        if result != 0:
            raise MemoryError("no memory to open cgroup files")
        return list(slots)

    def close(self, slots: Sequence[int]) -> None:
        if slots:
            self.native.lib.appl_cg_set_close(
                self._set, self.native.ffi.new("int32_t[]", list(slots)), len(slots)
            )

    def scan(self) -> Scan:
        ffi, lib = self.native.ffi, self.native.lib
        size = int(lib.appl_cg_set_size(self._set))
        if size > self._capacity:
            self._capacity = max(size, 2 * self._capacity)
            self._status = ffi.new("int32_t[]", self._capacity)
            self._values = ffi.new("int64_t[]", 2 * self._capacity)
            self._status_view = memoryview(ffi.buffer(self._status)).cast("i")
            self._values_view = memoryview(ffi.buffer(self._values)).cast("q")
        count = lib.appl_cg_scan(self._set, self._status, self._values, self._capacity)
        return Scan(self._status_view[:count], self._values_view[: 2 * count])


def parse_native(native: Native, kind: int, key: str | None, text: bytes) -> Reading:
    """appl_cg_parse in C (tests compare it with `parse`)."""
    _no_nul(key)
    ffi, lib = native.ffi, native.lib
    first, second = ffi.new("int64_t *"), ffi.new("int64_t *")
    c_key = ffi.new("char[]", key.encode()) if key is not None else ffi.NULL
    status = lib.appl_cg_parse(kind, c_key, ffi.from_buffer(text), len(text), first, second)
    return int(status), int(first[0]), int(second[0])


def cgroup_files() -> CgroupFiles:
    """The C set when the extension is loaded, else the twin (after one warning)."""
    native = load()
    return CgroupFilesTwin() if native is None else NativeCgroupFiles(native)
