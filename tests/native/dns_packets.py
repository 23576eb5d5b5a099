"""DNS messages built by hand for the native tests (no dnslib: these tests also run in the arm64 root)."""

from __future__ import annotations

import struct

from hypothesis import strategies as st

QTYPES = (1, 2, 5, 12, 15, 16, 28, 33, 255, 251, 252)
CLASSES = (1, 3, 255, 254)


def wire_name(labels: list[bytes]) -> bytes:
    """A plain (uncompressed) wire name."""
    return b"".join(bytes([len(label)]) + label for label in labels) + b"\x00"


def reply(qname: bytes, qtype: int, qclass: int, ttls: list[int], flags: int = 0x8580,
          rcode: int = 0) -> tuple[bytes, tuple[int, ...]]:
    """A packed reply (ID 0) with one A record per TTL, each owned by the question (pointer
    0xC00C), as netd/dns/template.py stores them; and the offsets of its TTL fields."""
    header = struct.pack(">HHHHHH", 0, flags | rcode, 1, len(ttls), 0, 0)
    out = bytearray(header + qname + struct.pack(">HH", qtype, qclass))
    offsets = []
    for i, ttl in enumerate(ttls):
        out += b"\xc0\x0c" + struct.pack(">HH", 1, 1)
        offsets.append(len(out))
        out += struct.pack(">IH", ttl, 4) + bytes([10, 0, i // 256 % 256, i % 256])
    return bytes(out), tuple(offsets)


def query(labels: list[bytes], qtype: int, qclass: int, qid: int = 0x1234, flags: int = 0x0100,
          edns: tuple[int, int, bool, bytes] | None = None) -> bytes:
    """A query; edns = (payload, version, DO, option bytes)."""
    out = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    out += wire_name(labels) + struct.pack(">HH", qtype, qclass)
    if edns is not None:
        payload, version, do, options = edns
        ttl = (version << 16) | (0x8000 if do else 0)
        out += b"\x00" + struct.pack(">HHIH", 41, payload, ttl, len(options)) + options
    return out


LETTERS = st.sampled_from(list(b"abcxyzABCXYZ019-_\x00\xff."))
LABELS = st.lists(
    st.binary(min_size=1, max_size=12).map(lambda b: bytes(c % 128 for c in b)) | st.lists(
        LETTERS, min_size=1, max_size=8).map(bytes),
    min_size=0, max_size=5,
)


def flip_case(data: bytes, mask: int) -> bytes:
    """`data` with ASCII letters upper-cased where the bit of `mask` for their position is set."""
    return bytes(
        (c - 32 if 97 <= c <= 122 and mask >> (i % 64) & 1 else c) for i, c in enumerate(data)
    )
