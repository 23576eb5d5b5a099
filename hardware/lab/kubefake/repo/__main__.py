"""`python -m hardware.lab.kubefake.repo`: build (or reuse) the lab's package repositories in the cache.

scripts/install runs it, so CI and `lab up` find the repositories built
and the Debian packages downloaded once.
"""

from __future__ import annotations

import sys

from foundation.errors import ApplianceError

from .build import CACHE_DIR, build_repository


def main() -> int:
    """Build into CACHE_DIR/repo and print where."""
    try:
        info = build_repository(CACHE_DIR / "repo")
    except ApplianceError as error:
        print(f"kubefake repository: {error}", file=sys.stderr)
        return 1
    print(info.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
