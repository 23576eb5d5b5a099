"""Regions and page merging: an overlay behaves exactly like writing into a copy, and never leaks out."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from images.flash import merge_pages
from images.region import MemoryRegion, OutOfBounds, OverlayRegion

SIZE = 20_000
writes = st.lists(st.tuples(st.integers(0, SIZE - 1), st.binary(min_size=1, max_size=9000)), max_size=12)


@settings(max_examples=200, deadline=None)
@given(writes)
def test_overlay_is_a_copy_that_is_written(edits: list[tuple[int, bytes]]) -> None:
    base = bytearray(bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256))
    expected = bytearray(base)
    overlay = OverlayRegion(MemoryRegion(base))
    for offset, data in edits:
        if offset + len(data) > SIZE:
            with pytest.raises(OutOfBounds):
                overlay.write(offset, data)
            continue
        overlay.write(offset, data)
        expected[offset:offset + len(data)] = data
    assert overlay.read(0, SIZE) == bytes(expected)
    assert bytes(base) == bytes(range(256)) * (SIZE // 256) + bytes(SIZE % 256)  # the base is untouched
    # The pages laid over the base by merge_pages give the same bytes, whatever the block cut.
    pages = tuple(overlay.pages())
    for cut in (1000, 4096, 7777):
        merged = b"".join(merge_pages(bytes(base[start:start + cut]), start, pages) for start in range(0, SIZE, cut))
        assert merged == bytes(expected)


def test_bounds() -> None:
    region = MemoryRegion(bytearray(10))
    with pytest.raises(OutOfBounds):
        region.read(5, 6)
    with pytest.raises(OutOfBounds):
        region.write(-1, b"x")
    with pytest.raises(OutOfBounds):
        OverlayRegion(region).read(0, 11)
