"""The C checksum functions agree with their Python twins and with RFC examples."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from native import checksum
from tests.native.scale import examples


def test_rfc1071_example_header() -> None:
    # A real IPv4 header (checksum field zeroed); the right checksum is 0xb861.
    header = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")
    assert checksum.inet_checksum(header) == 0xB861
    assert checksum.inet_checksum_py(header) == 0xB861


def test_checksum_of_header_with_its_checksum_is_zero() -> None:
    header = bytes.fromhex("45000073000040004011b861c0a80001c0a800c7")
    assert checksum.inet_checksum(header) == 0


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(max_size=2000))
def test_c_and_python_checksums_agree(data: bytes) -> None:
    assert checksum.inet_checksum(data) == checksum.inet_checksum_py(data)


@settings(max_examples=examples(100), deadline=None)
@given(st.binary(min_size=2, max_size=200).filter(lambda b: len(b) % 2 == 0), st.data())
def test_incremental_update_matches_full_recompute(data: bytes, draw: st.DataObject) -> None:
    index = draw.draw(st.integers(0, len(data) // 2 - 1))
    new_word = draw.draw(st.integers(0, 0xFFFF))
    old_word = int.from_bytes(data[2 * index : 2 * index + 2], "big")
    changed = data[: 2 * index] + new_word.to_bytes(2, "big") + data[2 * index + 2 :]
    old_sum = checksum.inet_checksum(data)
    adjusted = checksum.checksum_adjust(old_sum, old_word, new_word)
    assert adjusted == checksum.checksum_adjust_py(old_sum, old_word, new_word)
    # RFC 1624: equal as one's-complement numbers (0x0000 and 0xffff both mean zero).
    assert adjusted % 0xFFFF == checksum.inet_checksum(changed) % 0xFFFF


def test_out_of_range_words_are_refused() -> None:
    with pytest.raises(ValueError, match="16-bit"):
        checksum.checksum_adjust(0x10000, 0, 0)
