"""Forward a host port (127.0.0.1 only) to the lab master's web page.

    python -m hardware.lab.webforward --namespace pilab-master --target 10.0.0.1:8080 \
        --listen 127.0.0.1:18080 --port-file FILE

The user's browser is in the host's network namespace, the master's page is
in the sealed lab. Instead of a link between the two (which would unseal
the lab), this process listens on the host's loopback and opens each
upstream connection from a socket created inside the master's namespace
(setns on one thread for the moment of creation). Nothing else crosses.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

MARKER = "hardware.lab.webforward"
"""Command-line marker by which `lab down` finds this process in the host's namespace."""


def start(run_dir: Path, namespace: str, target: str, port: int) -> int | None:
    """Start the forwarder detached; return the host port it listens on (None if it failed)."""
    port_file = run_dir / "web.port"
    log = run_dir / "logs" / "webforward.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        subprocess.run(
            ["setsid", "-f", sys.executable, "-m", MARKER, "--namespace", namespace, "--target", target,
             "--listen", f"127.0.0.1:{port}", "--port-file", str(port_file)],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, check=True,
        )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(port_file.read_text())
        time.sleep(0.02)
    return None


def find_pids(namespace: str) -> list[int]:
    """PIDs of forwarders into `namespace` (found by command line: they live in the host's namespace)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if MARKER.encode() in argv and namespace.encode() in argv:
                found.append(int(entry.name))
    return found


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _serve_one(client: socket.socket, namespace: str, host: str, port: int) -> None:
    from hardware.lab.plumbing import connect_in

    try:
        upstream = connect_in(namespace, host, port, timeout=5.0)
    except OSError:
        client.close()
        return
    upstream.settimeout(None)
    back = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
    back.start()
    _pipe(client, upstream)
    back.join()
    client.close()
    upstream.close()


def main(argv: list[str] | None = None) -> int:
    """Accept on --listen forever; each connection is relayed to --target inside --namespace."""
    parser = argparse.ArgumentParser(prog=MARKER)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--listen", default="127.0.0.1:18080")
    parser.add_argument("--port-file", type=Path, required=True)
    args = parser.parse_args(argv)
    host, port = args.target.rsplit(":", 1)
    listen_host, listen_port = args.listen.rsplit(":", 1)
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        server.bind((listen_host, int(listen_port)))
    except OSError:
        server.bind((listen_host, 0))  # the usual port is taken: any free one, reported in the file
    server.listen(64)
    tmp = args.port_file.with_suffix(".tmp")
    tmp.write_text(str(server.getsockname()[1]))
    os.replace(tmp, args.port_file)
    while True:
        client, _ = server.accept()
        threading.Thread(target=_serve_one, args=(client, args.namespace, host, int(port)),
                         daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
