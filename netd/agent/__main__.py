"""`python3 -m netd.agent --master URL --state-dir DIR`: the node agent's one front-end.

A node runs it from its payload with Debian's python3 (no click there); `appliance agent
run` hands its arguments to `main` here, so both parse, check and run the agent the same way.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from foundation.errors import ApplianceError
from netd.agent.client import check_master_url
from netd.agent.runner import Agent, AgentOptions
from netd.cni import CNI_CONF_DIR

DESCRIPTION = "Report to the master, program this node's pod routes and write its CNI config."


def run(options: AgentOptions) -> None:
    """Run the agent in the foreground until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Agent(options).run(stop)


def parser(prog: str) -> argparse.ArgumentParser:
    """The agent's command line."""
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    parser.add_argument("--master", required=True, metavar="URL",
                        help="the master's agent API, http://HOST:PORT (e.g. http://10.0.0.1:8081)")
    parser.add_argument("--state-dir", required=True, type=Path, metavar="DIR",
                        help="holds the credential file (mode 0600) and the last config")
    parser.add_argument("--cni-dir", type=Path, default=CNI_CONF_DIR, metavar="DIR",
                        help=f"where 10-appliance.conflist is written (default {CNI_CONF_DIR})")
    parser.add_argument("--max-backoff", type=float, default=60.0, metavar="SECONDS",
                        help="longest retry delay while the master does not answer (default 60)")
    return parser


def main(argv: list[str] | None = None, prog: str = "python3 -m netd.agent") -> int:
    """Parse arguments and run; returns the exit code (2 for bad arguments, as argparse does)."""
    args = parser(prog).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s agent %(levelname)s %(message)s")
    try:
        run(
            AgentOptions(
                master_url=check_master_url(args.master),
                state_dir=args.state_dir,
                cni_dir=args.cni_dir,
                min_backoff=min(1.0, args.max_backoff),
                max_backoff=args.max_backoff,
            )
        )
    except ApplianceError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
