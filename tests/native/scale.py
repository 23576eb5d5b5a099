"""How many hypothesis examples a test runs: fewer in the arm64 root under qemu.

tests/native/arm64_root.py sets NATIVE_TEST_SCALE (emulated Python is 10-30x
slower); everywhere else it is 1 and tests run their full counts.
"""

from __future__ import annotations

import os


def examples(count: int) -> int:
    """`count` scaled by NATIVE_TEST_SCALE, at least 10."""
    return max(10, round(count * float(os.environ.get("NATIVE_TEST_SCALE", "1"))))
