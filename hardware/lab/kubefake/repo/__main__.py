"""`python -m hardware.lab.kubefake.repo`: build (or reuse) the lab's package repositories in the cache.

scripts/install runs it, so CI and `lab up` find the repositories built
and the Debian packages downloaded once.
"""

from __future__ import annotations

import sys

from foundation.errors import ApplianceError

from .build import build_repository, cached_tree


def main() -> int:
    """Build into the cache (one directory per content) and print where."""
    try:
        info = build_repository(cached_tree())
    except ApplianceError as error:
        print(f"kubefake repository: {error}", file=sys.stderr)
        return 1
    print(info.root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
