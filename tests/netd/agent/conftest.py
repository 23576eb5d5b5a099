"""The rtt- namespace helpers live in tests/netd/routes (shared by the NAT, routes and agent tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "routes"))
