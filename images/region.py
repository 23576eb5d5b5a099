"""A byte range the image code reads and writes: memory, a file (image or device), or an overlay.

The FAT code and the partition code never open files; they get a `Region`
whose every access is checked against its bounds, so a crafted image can make
them fail but never read or write outside the partition they were given.

- `MemoryRegion`: a bytearray (tests, small images).
- `FileRegion`: a window `[start, start+size)` of an open file descriptor (an
  image file or a block device), with pread/pwrite.
- `OverlayRegion`: reads from another region, keeps every write in memory in
  4 KiB pages. `appliance flash` personalises a card this way: the image file
  is never changed, and the writer merges the pages into the stream it writes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Protocol

PAGE = 4096


class OutOfBounds(ValueError):
    """An access outside the region (a bug, or a crafted image the caller did not catch)."""


class Region(Protocol):
    """A fixed-size byte range with random-access reads and writes."""

    @property
    def size(self) -> int:
        """Length in bytes."""
        ...

    def read(self, offset: int, length: int) -> bytes:
        """Exactly `length` bytes from `offset`."""
        ...

    def write(self, offset: int, data: bytes) -> None:
        """Put `data` at `offset`."""
        ...


def check_span(size: int, offset: int, length: int) -> None:
    """Raise OutOfBounds unless `[offset, offset+length)` lies in `[0, size)`."""
    if offset < 0 or length < 0 or offset + length > size:
        raise OutOfBounds(f"access to bytes {offset}-{offset + length} outside a {size}-byte region")


class MemoryRegion:
    """A region backed by a bytearray."""

    def __init__(self, data: bytearray) -> None:
        self.data = data

    @property
    def size(self) -> int:
        return len(self.data)

    def read(self, offset: int, length: int) -> bytes:
        check_span(self.size, offset, length)
        return bytes(self.data[offset:offset + length])

    def write(self, offset: int, data: bytes) -> None:
        check_span(self.size, offset, len(data))
        self.data[offset:offset + len(data)] = data


class FileRegion:
    """The window `[start, start+size)` of an open file descriptor."""

    def __init__(self, fd: int, start: int, size: int) -> None:
        self.fd, self.start, self._size = fd, start, size

    @property
    def size(self) -> int:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        check_span(self._size, offset, length)
        data = os.pread(self.fd, length, self.start + offset)
        if len(data) != length:  # the file is shorter than the table said
            raise OutOfBounds(f"short read: {len(data)} of {length} bytes at {self.start + offset}")
        return data

    def write(self, offset: int, data: bytes) -> None:
        check_span(self._size, offset, len(data))
        view = memoryview(data)
        position = self.start + offset
        while view:
            written = os.pwrite(self.fd, view, position)
            view, position = view[written:], position + written


class OverlayRegion:
    """Reads from `base`; writes land in memory pages. `pages()` yields what changed."""

    def __init__(self, base: Region) -> None:
        self.base = base
        self._pages: dict[int, bytearray] = {}

    @property
    def size(self) -> int:
        return self.base.size

    def read(self, offset: int, length: int) -> bytes:
        check_span(self.size, offset, length)
        if not self._pages:
            return self.base.read(offset, length)
        out = bytearray()
        position, end = offset, offset + length
        while position < end:
            page, within = divmod(position, PAGE)
            take = min(PAGE - within, end - position)
            stored = self._pages.get(page)
            if stored is not None:
                out += stored[within:within + take]
            else:
                out += self.base.read(position, take)
            position += take
        return bytes(out)

    def write(self, offset: int, data: bytes) -> None:
        check_span(self.size, offset, len(data))
        position, end, source = offset, offset + len(data), 0
        while position < end:
            page, within = divmod(position, PAGE)
            take = min(PAGE - within, end - position)
            stored = self._pages.get(page)
            if stored is None:
                length = min(PAGE, self.size - page * PAGE)
                stored = bytearray(self.base.read(page * PAGE, length))
                self._pages[page] = stored
            stored[within:within + take] = data[source:source + take]
            position, source = position + take, source + take

    def pages(self) -> Iterator[tuple[int, bytes]]:
        """(offset in this region, bytes) of every changed page, in order."""
        for page in sorted(self._pages):
            yield page * PAGE, bytes(self._pages[page])
