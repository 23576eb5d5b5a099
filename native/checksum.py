"""Internet checksum (RFC 1071) and incremental update (RFC 1624): C and Python twins."""

from __future__ import annotations

from native._native import ffi, lib


def inet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of `data`, computed in C."""
    return int(lib.appl_inet_checksum(ffi.from_buffer(data), len(data)))


def checksum_adjust(old_checksum: int, old_word: int, new_word: int) -> int:
    """RFC 1624 eqn. 3 update of `old_checksum` when one 16-bit word changes, in C."""
    for value in (old_checksum, old_word, new_word):
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"checksum words are 16-bit, got {value!r}")
    return int(lib.appl_checksum_adjust(old_checksum, old_word, new_word))


def _fold(total: int) -> int:
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def inet_checksum_py(data: bytes) -> int:
    """Pure-Python twin of `inet_checksum`."""
    if len(data) % 2:
        data = data + b"\x00"
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    return ~_fold(total) & 0xFFFF


def checksum_adjust_py(old_checksum: int, old_word: int, new_word: int) -> int:
    """Pure-Python twin of `checksum_adjust`."""
    for value in (old_checksum, old_word, new_word):
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"checksum words are 16-bit, got {value!r}")
    total = (~old_checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    return ~_fold(total) & 0xFFFF
