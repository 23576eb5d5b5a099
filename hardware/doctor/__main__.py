"""`python3 -m hardware.doctor [-o json] [--role master|worker]`: the doctor without the CLI.

Provisioning runs this over SSH on nodes where only the hardware package is
copied; it needs nothing but the Python standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import json
import sys

from hardware.doctor import exit_code, render_table, run_doctor, to_json


def main(argv: list[str] | None = None) -> int:
    """Run the checks, print them, return the exit code (1 if any failed)."""
    parser = argparse.ArgumentParser(prog="python3 -m hardware.doctor", description=__doc__)
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table")
    parser.add_argument("--role", choices=("master", "worker"), default="worker")
    args = parser.parse_args(argv)
    checks = run_doctor(args.role)
    if args.output == "json":
        print(json.dumps(to_json(checks), indent=2))
    else:
        print(render_table(checks))
    return exit_code(checks)


if __name__ == "__main__":
    sys.exit(main())
