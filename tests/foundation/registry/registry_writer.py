"""A separate writer process for the registry's crash and concurrency tests (not a test module).

registry_writer.py batches STATE_DIR TAG BATCH_SIZE [COUNT]
    commits batches of BATCH_SIZE events (kind=TAG) forever (or COUNT
    batches) and prints "<batch> <last event id>" after each commit.
registry_writer.py leases STATE_DIR TAG COUNT
    records COUNT granted leases for new clients named TAG-1..TAG-COUNT
    one transaction each, then prints "done".
"""

from __future__ import annotations

import sys
import time
from ipaddress import IPv4Address, IPv4Network

from foundation import registry
from foundation.records import LeaseChange, LeaseEvent


def batches(state_dir: str, tag: str, size: int, count: int | None, row_delay: float) -> None:
    conn = registry.open_registry(state_dir)
    batch = 0
    while count is None or batch < count:
        batch += 1
        print("begin", batch, flush=True)
        with registry.transaction(conn):
            for row in range(size):
                last = registry.append_event(
                    conn,
                    kind=tag,
                    node=None,
                    message=f"{tag} batch {batch} row {row}",
                    now=float(batch),
                )
                # Work between rows keeps the transaction open most of the time,
                # so a kill at a random moment almost always lands mid-batch.
                time.sleep(row_delay)
        # Printed only after COMMIT returned: every id printed must survive a SIGKILL.
        print(batch, last, flush=True)


def leases(state_dir: str, tag: str, count: int) -> None:
    conn = registry.open_registry(state_dir)
    base = 2 if tag.endswith("a") else 130
    for n in range(1, count + 1):
        event = LeaseEvent(
            change=LeaseChange.GRANTED,
            address=IPv4Address(f"10.0.0.{base + n}"),
            mac=f"02:00:00:00:{base:02x}:{n:02x}",
            client_id=None,
            node_name=f"{tag}-{n}",
            hostname=None,
            expires=1000.0 + n,
        )
        registry.record_lease_event(
            conn, event, pod_cidr=IPv4Network("10.244.0.0/16"), node_cidr_mask=24, now=float(n)
        )
    print("done", flush=True)


def main(argv: list[str]) -> None:
    mode, state_dir, tag = argv[1], argv[2], argv[3]
    if mode == "batches":
        count = int(argv[5]) if len(argv) > 5 and argv[5] != "forever" else None
        row_delay = float(argv[6]) if len(argv) > 6 else 0.0
        batches(state_dir, tag, int(argv[4]), count, row_delay)
    elif mode == "leases":
        leases(state_dir, tag, int(argv[4]))
    else:
        raise SystemExit(f"unknown mode {mode}")


if __name__ == "__main__":
    main(sys.argv)
