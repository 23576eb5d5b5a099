"""The rtt- namespace helpers live in tests/netd/routes (shared by the NAT, routes, agent and master tests)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "netd" / "routes"))
