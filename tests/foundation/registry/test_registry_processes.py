"""Real processes against one registry file: SIGKILL in mid-batch, and two concurrent writers."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from foundation import registry

WRITER = Path(__file__).with_name("registry_writer.py")
BATCH = 50


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _reported(output: str) -> list[tuple[int, int]]:
    """(batch, last id) pairs the writer printed after commits; a torn last line is ignored."""
    pairs = []
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and all(part.isdigit() for part in parts):
            pairs.append((int(parts[0]), int(parts[1])))
    return pairs


def _killed_mid_batch(output: str) -> int | None:
    """The batch the writer had begun and not reported committed when it died, if any."""
    lines = [line.split() for line in output.splitlines() if line.strip()]
    complete = [parts for parts in lines if len(parts) == 2]
    last = complete[-1] if complete else None
    if last is not None and last[0] == "begin" and last[1].isdigit():
        return int(last[1])
    return None


def test_sigkill_mid_batch_loses_no_committed_row(tmp_path: Path) -> None:
    rng = random.Random()
    registry.open_registry(tmp_path).close()
    committed: dict[str, list[tuple[int, int]]] = {}
    in_flight: dict[str, int] = {}
    for round_ in range(5):
        tag = f"crash{round_}"
        writer = _start("batches", str(tmp_path), tag, str(BATCH), "forever", "0.001")
        try:
            # Wait for the first commit, then kill at a random moment among the next batches.
            assert writer.stdout is not None
            head = writer.stdout.readline() + writer.stdout.readline()
            assert "begin 1" in head and "1 " in head.splitlines()[-1], head
            time.sleep(rng.uniform(0.0, 0.5))
            writer.send_signal(signal.SIGKILL)
            writer.wait(timeout=30)
            # The rest through the same buffered reader as `head`: communicate() reads the pipe
            # itself and would miss lines this reader already holds (on a loaded machine several
            # lines reach it in one read), and a committed batch would look unreported.
            rest = writer.stdout.read()
        finally:
            if writer.poll() is None:
                writer.kill()
                writer.wait()
            for stream in (writer.stdout, writer.stderr):
                if stream is not None:
                    stream.close()
        assert writer.returncode == -signal.SIGKILL
        committed[tag] = _reported(head + rest)
        batch = _killed_mid_batch(head + rest)
        if batch is not None:
            in_flight[tag] = batch

    # Rows stay open ~50 ms per batch against ~1 ms of commit: most kills land mid-batch.
    assert in_flight, "no kill landed inside a batch in 5 tries"
    conn = registry.open_registry(tmp_path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    for tag, pairs in committed.items():
        ids = {row[0] for row in conn.execute("SELECT id FROM events WHERE kind = ?", (tag,))}
        for _, last_id in pairs:
            assert last_id in ids, f"{tag}: committed event {last_id} is missing after SIGKILL"
        batches = dict(
            conn.execute(
                "SELECT CAST(time AS INTEGER), count(*) FROM events WHERE kind = ? GROUP BY time",
                (tag,),
            ).fetchall()
        )
        # Every reported batch is there, whole; the one in flight is all or nothing.
        assert all(count == BATCH for count in batches.values()), batches
        assert set(batches) >= {batch for batch, _ in pairs}
        assert set(batches) - {batch for batch, _ in pairs} <= {in_flight.get(tag)}
    # The reopened registry takes new writes.
    registry.append_event(conn, kind="after", node=None, message="alive", now=0.0)
    conn.close()


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    registry.open_registry(tmp_path).close()
    writers = [_start("batches", str(tmp_path), tag, "5", "150", "0") for tag in ("one", "two")]
    outputs = [writer.communicate(timeout=120) for writer in writers]
    for writer, (out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
        assert len(_reported(out)) == 150
    conn = registry.open_registry(tmp_path)
    for tag in ("one", "two"):
        assert (
            conn.execute("SELECT count(*) FROM events WHERE kind = ?", (tag,)).fetchone()[0] == 750
        )
    conn.close()


def test_two_processes_recording_leases_never_share_a_pod_cidr(tmp_path: Path) -> None:
    # Both start on a fresh file: they also race through the first migration.
    writers = [_start("leases", str(tmp_path), tag, "40") for tag in ("pa", "pb")]
    for writer in writers:
        out, err = writer.communicate(timeout=120)
        assert writer.returncode == 0, err
        assert out.strip() == "done"
    conn = registry.open_registry(tmp_path)
    nodes = registry.list_nodes(conn)
    assert len(nodes) == 80
    cidrs = [node.pod_cidr for node in nodes]
    assert None not in cidrs
    assert len(set(cidrs)) == 80
    conn.close()
