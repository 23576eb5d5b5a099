"""Internet checksum (RFC 1071) and incremental update (RFC 1624): C and Python twins.

`inet_checksum` and `checksum_adjust` run the C code when the extension is
loaded and the twins (`*_py`) otherwise; both give identical results.
"""

from __future__ import annotations

from native._loader import load


def _check_words(*values: int) -> None:
    for value in values:
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"checksum words are 16-bit, got {value!r}")


def inet_checksum(data: bytes) -> int:
    """RFC 1071 checksum of `data`."""
    native = load()
    if native is None:
        return inet_checksum_py(data)
    return int(native.lib.appl_inet_checksum(native.ffi.from_buffer(data), len(data)))


def checksum_adjust(old_checksum: int, old_word: int, new_word: int) -> int:
    """RFC 1624 eqn. 3 update of `old_checksum` when one 16-bit word changes."""
    _check_words(old_checksum, old_word, new_word)
    native = load()
    if native is None:
        return checksum_adjust_py(old_checksum, old_word, new_word)
    return int(native.lib.appl_checksum_adjust(old_checksum, old_word, new_word))


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
    _check_words(old_checksum, old_word, new_word)
    total = (~old_checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    return ~_fold(total) & 0xFFFF
