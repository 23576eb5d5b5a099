"""`python3 -m netd.agent --master URL --state-dir DIR`: the agent without click."""

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


def run(options: AgentOptions) -> None:
    """Run the agent in the foreground until SIGTERM or SIGINT."""
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    Agent(options).run(stop)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and run; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python3 -m netd.agent", description=__doc__)
    parser.add_argument("--master", required=True, help="the master's agent API, http://HOST:PORT")
    parser.add_argument("--state-dir", required=True, type=Path, help="holds the credential file")
    parser.add_argument("--cni-dir", type=Path, default=CNI_CONF_DIR, help="where the CNI conflist goes")
    parser.add_argument("--max-backoff", type=float, default=60.0, help="longest retry delay (s)")
    args = parser.parse_args(argv)
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
