"""Reading base images as a stream (plain or .xz), writing sparse files, hashing: the I/O of the build.

- `SourceStream` reads `.img` or `.img.xz` (told apart by the xz magic, not the
  name) in chunks, never the whole image in memory, and hashes the bytes as
  read so `--sha256` (the hash published next to the download: of the file as
  downloaded) is checked without a second pass. liblzma gets a memory limit,
  so a crafted header asking for a huge dictionary is refused at once.
- `write_sparse` writes chunks, seeking over all-zero blocks, so a 2 GiB image
  with 400 MB of data costs 400 MB of disk.
- `StreamHasher` hashes an output while it is being written (its own thread).
- `sha256_file` hashes a file with large reads.
- `read_ahead` runs a producer (decompression, file reads) one step ahead in a
  thread, so it overlaps what the consumer does with each item.
"""

from __future__ import annotations

import errno
import hashlib
import lzma
import os
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from images.errors import BuildFailed, ImageError

CHUNK = 4 * 1024 * 1024
"""Read and write unit: large enough that per-call costs vanish, small enough to stay in cache."""
XZ_MAGIC = b"\xfd7zXZ\x00"
XZ_MEMLIMIT = 512 * 1024 * 1024
"""liblzma memory limit: official images need 65 MiB (-6 -T0 uses 8 MiB dictionaries); anything
asking for more than 512 MiB is not an image download."""
ZERO = bytes(CHUNK)
SPARSE_BLOCK = 64 * 1024
"""Holes are made at this granularity (a multiple of every file system block size)."""
ZERO_BLOCK = bytes(SPARSE_BLOCK)


T = TypeVar("T")


def read_ahead(items: Iterator[T], depth: int = 4) -> Iterator[T]:
    """`items`, produced in a thread up to `depth` ahead of the consumer; the producer's exception
    is raised in the consumer. Pays when producing releases the GIL (liblzma, reads, writes):
    a build decompresses the next chunk while it writes and seeds this one."""
    ahead: queue.Queue[tuple[T] | BaseException | None] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put((item,))
            ahead.put(None)
        except BaseException as error:  # handed to the consumer
            ahead.put(error)

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    try:
        while True:
            got = ahead.get()
            if got is None:
                return
            if isinstance(got, BaseException):
                raise got
            yield got[0]
    finally:
        stop.set()
        while producer.is_alive():  # unblock a producer waiting on a full queue
            try:
                ahead.get_nowait()
            except queue.Empty:
                time.sleep(0.01)
        producer.join()


class SourceStream:
    """A base image read front to back in chunks, decompressed when it is xz."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._file = open(path, "rb")  # noqa: SIM115 - closed by close()/__exit__
        except FileNotFoundError:
            raise ImageError(f"{path}: no such file; give the path of a Raspberry Pi OS .img or .img.xz") from None
        except OSError as error:
            raise ImageError(f"{path}: cannot be read ({error.strerror}); check the path and its permissions") from None
        magic = self._file.read(len(XZ_MAGIC))
        self._file.seek(0)
        self.compressed = magic == XZ_MAGIC
        self._decompressor = lzma.LZMADecompressor(memlimit=XZ_MEMLIMIT) if self.compressed else None
        self._hash = hashlib.sha256()
        self.size = 0
        """Bytes of image produced so far."""

    def __enter__(self) -> SourceStream:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Release the file."""
        self._file.close()

    def chunks(self) -> Iterator[bytes]:
        """The image's bytes, in chunks of at most CHUNK."""
        while True:
            try:
                raw = self._file.read(CHUNK)
            except OSError as error:
                raise ImageError(f"{self.path}: read error ({error.strerror})") from None
            self._hash.update(raw)
            if self._decompressor is None:
                if not raw:
                    return
                self.size += len(raw)
                yield raw
                continue
            yield from self._decompress(raw)
            if not raw:
                if not self._decompressor.eof:
                    raise ImageError(f"{self.path}: the .xz file ends early (a truncated download); download it again")
                return

    def _decompress(self, raw: bytes) -> Iterator[bytes]:
        decompressor = self._decompressor
        assert decompressor is not None
        if decompressor.eof:
            trailing = raw
        else:
            data = raw
            while not decompressor.eof:
                try:
                    out = decompressor.decompress(data, max_length=CHUNK)
                except lzma.LZMAError as error:
                    raise ImageError(f"{self.path}: corrupt .xz ({error}); download it again") from None
                data = b""
                if out:
                    self.size += len(out)
                    yield out
                elif decompressor.needs_input:
                    return
            trailing = decompressor.unused_data
        if trailing.rstrip(b"\0"):
            # Stream padding (zeros) is allowed; a second stream is legal xz but no image download has one.
            raise ImageError(f"{self.path}: data after the end of the xz stream; is this one image?")

    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes read so far (all of them once `chunks` is exhausted)."""
        return self._hash.hexdigest()


def write_sparse(fd: int, data: bytes, offset: int) -> None:
    """Write `data` at `offset`, leaving holes where whole 64 KiB blocks are zero."""
    if data == ZERO[: len(data)]:
        return
    view = memoryview(data)
    start = 0
    while start < len(data):
        end = min(start + SPARSE_BLOCK, len(data))
        piece = view[start:end]
        if piece != (ZERO_BLOCK if end - start == SPARSE_BLOCK else ZERO[: end - start]):
            _pwrite_all(fd, piece, offset + start)
        start = end


def _pwrite_all(fd: int, data: memoryview | bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.pwrite(fd, view, offset)
        except OSError as error:
            raise write_error(error) from None
        view, offset = view[written:], offset + written


def write_error(error: OSError) -> BuildFailed:
    """One line for an OSError met while writing an output (ENOSPC named as such)."""
    if error.errno == errno.ENOSPC:
        return BuildFailed(f"no space left for the output ({error.filename or 'output folder'}); "
                           "free some space or choose another --out folder")
    return BuildFailed(f"writing the output failed: {error.strerror}")


def finish_size(fd: int, size: int) -> None:
    """Give the sparse file its full length (the trailing hole)."""
    try:
        os.ftruncate(fd, size)
    except OSError as error:
        raise write_error(error) from None


class StreamHasher:
    """SHA-256 of a file computed while the file is still being written, in a thread of its own.

    The thread first hashes the file's first `start` bytes (already on disk), then every chunk
    `feed` hands it, in order; `finish` returns the hex digest. The queue is bounded, so memory
    stays at a few chunks; a failed or abandoned hasher never blocks the writer.
    """

    def __init__(self, fd: int, start: int) -> None:
        self._fd = os.dup(fd)  # the writer may close its own fd before the read-back is done
        self._start = start
        self._digest = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=8)
        self._error: BaseException | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._digest = hashlib.sha256()
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            position = 0
            while position < self._start and not self._stopped.is_set():
                got = os.preadv(self._fd, [view[: min(CHUNK, self._start - position)]], position)
                if got <= 0:
                    raise BuildFailed(f"the output ended at byte {position} while hashing it")
                self._digest.update(view[:got])
                position += got
            while not self._stopped.is_set():
                chunk = self._queue.get()
                if chunk is None:
                    return
                self._digest.update(chunk)
        except BaseException as error:  # handed to the writer by feed/finish
            self._error = error
        finally:
            os.close(self._fd)

    def feed(self, chunk: bytes) -> None:
        """Hash `chunk` next (it follows everything fed before)."""
        while self._thread.is_alive():
            try:
                self._queue.put(chunk, timeout=0.5)
                return
            except queue.Full:
                continue
        if self._error is not None:
            raise self._error

    def finish(self) -> str:
        """The digest of everything, once the thread has hashed it all."""
        while self._thread.is_alive():
            try:
                self._queue.put(None, timeout=0.5)
                break
            except queue.Full:
                continue
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._digest.hexdigest()

    def abandon(self) -> None:
        """Stop without a digest (the build failed)."""
        self._stopped.set()
        while self._thread.is_alive():
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
            self._thread.join(timeout=0.1)


def sha256_file(fd: int, size: int) -> str:
    """Hex SHA-256 of the first `size` bytes of fd."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    position = 0
    while position < size:
        want = min(CHUNK, size - position)
        got = os.preadv(fd, [view[:want]], position)
        if got <= 0:
            raise BuildFailed(f"the output ended at byte {position} while hashing it")
        digest.update(view[:got])
        position += got
    return digest.hexdigest()
