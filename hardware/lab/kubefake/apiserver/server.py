"""The simulated kube-apiserver process: the REST core behind a TLS socket.

Started the way the real one is: the kubelet reads the static pod manifest
/etc/kubernetes/manifests/kube-apiserver.yaml and runs this with the
manifest's flags. It takes the flags it needs (--advertise-address,
--secure-port, --bind-address, --client-ca-file, --tls-cert-file,
--tls-private-key-file, --cluster-signing-cert-file/--cluster-signing-key-file
as the controller-manager has them) and ignores the rest, like flags of
components it does not simulate. State lives in
`<etcd data dir>/kubefake-state.json` (--kubefake-etcd-data-dir, default
/var/lib/etcd, as the etcd static pod would keep it).

The loop is thin: one lock around the sans-I/O core, a catch-all that
logs and answers 500 and keeps serving, a timer for the controllers, and
watches streamed by polling the store.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import socket
import ssl
import sys
import threading
import time
import traceback
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from .. import pki
from ..release import Release, current
from . import auth, errors, tables
from .api import Api, Request, Response, Target
from .store import STATE_FILE, Store, meta

log = logging.getLogger("kube-apiserver")
WATCH_POLL = 0.2
"""Seconds between looks at the store while streaming a watch."""
WATCH_LIMIT = 1800.0
"""Longest watch without timeoutSeconds (the real server picks 30-60 min)."""


def utcnow() -> datetime:
    """The wall clock, the only one the loop reads."""
    return datetime.now(UTC)


class Handler(BaseHTTPRequestHandler):
    """One connection; every request goes through ApiServer.dispatch."""

    protocol_version = "HTTP/1.1"
    server: ApiHTTPServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - BaseHTTPRequestHandler's name
        return

    def _user(self) -> auth.User:
        header = self.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            with self.server.lock:
                return auth.from_bearer(self.server.api.store, header[len("Bearer "):].strip(), utcnow())
        certificate = self.connection.getpeercert() if isinstance(self.connection, ssl.SSLSocket) else None
        if certificate:
            subject = dict(pair[0] for pair in certificate.get("subject", ()))  # type: ignore[misc]
            orgs = [pair[0][1] for pair in certificate.get("subject", ()) if pair[0][0] == "organizationName"]  # type: ignore[index]
            return auth.from_certificate(str(subject.get("commonName", "")), [str(o) for o in orgs])
        return auth.ANONYMOUS

    def _dispatch(self) -> None:
        self.server.requests += 1
        length = self.headers.get("Content-Length", "0")
        try:
            size = int(length)
        except ValueError:
            size = -1
        if size < 0 or size > 3 * 1024 * 1024:
            self._send(Response(413 if size > 0 else 400, json.dumps(errors.bad_request(
                "invalid or too large Content-Length").status()).encode()))
            self.close_connection = True
            return
        body = self.rfile.read(size) if size else b""
        url = urlsplit(self.path)
        try:
            user = self._user()
            request = Request(self.command, url.path, url.query, user, body,
                              self.headers.get("Content-Type", ""), self.headers.get("Accept", ""))
            with self.server.lock:
                response = self.server.api.handle(request, utcnow())
        except errors.ApiError as error:
            response = Response(error.code, json.dumps(error.status()).encode())
        except Exception:  # the one catch-all: log, count, answer 500, keep serving
            self.server.failures += 1
            log.error("request %s %s failed:\n%s", self.command, url.path, traceback.format_exc())
            response = Response(500, json.dumps(errors.ApiError(500, "InternalError",
                                                                "Internal error occurred").status()).encode())
        if response.watch is not None:
            self._watch(response.watch, request)
        else:
            self._send(response)

    def _send(self, response: Response) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _watch(self, spec: tuple[object, str | None, dict[str, str]], request: Request) -> None:
        resource, namespace, query = spec
        target = Target(resource, namespace or "", all_namespaces=namespace is None)  # type: ignore[arg-type]
        as_table = "as=Table" in request.accept
        try:
            timeout = min(float(query.get("timeoutSeconds", WATCH_LIMIT)), WATCH_LIMIT)
        except ValueError:
            timeout = WATCH_LIMIT
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        seen: dict[str, tuple[str, dict[str, object]]] | None = None
        # A watch-list (sendInitialEvents=true, client-go's streaming list) gets the current objects and then
        # a BOOKMARK marking the end of the initial events, as the real server sends it.
        send_initial = query.get("sendInitialEvents") == "true"
        initial = send_initial or query.get("resourceVersion", "") in ("", "0")
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                with self.server.lock:
                    items = self.server.api.select(target, query)
                    now = utcnow()
                current = {str(meta(i).get("uid")): (str(meta(i).get("resourceVersion")), i) for i in items}
                events: list[tuple[str, dict[str, object]]] = []
                if seen is None:
                    events = [("ADDED", obj) for _, obj in current.values()] if initial else []
                else:
                    for uid, (version, obj) in current.items():
                        if uid not in seen:
                            events.append(("ADDED", obj))
                        elif seen[uid][0] != version:
                            events.append(("MODIFIED", obj))
                    events += [("DELETED", obj) for uid, (_, obj) in seen.items() if uid not in current]
                if seen is None and send_initial:
                    events.append(("BOOKMARK", {
                        "kind": resource.kind, "apiVersion": resource.api_version,  # type: ignore[attr-defined]
                        "metadata": {"resourceVersion": str(self.server.api.store.revision),
                                     "annotations": {"k8s.io/initial-events-end": "true"}}}))
                seen = current
                for kind, obj in events:
                    shown: object = obj
                    if as_table and kind != "BOOKMARK":
                        shown = tables.table(resource.name, [obj], now, str(meta(obj).get("resourceVersion")))  # type: ignore[attr-defined]
                    self._chunk(json.dumps({"type": kind, "object": shown}).encode() + b"\n")
                time.sleep(WATCH_POLL)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            pass
        self.close_connection = True

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch


class ApiHTTPServer(ThreadingHTTPServer):
    """The threaded HTTPS server holding the core."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api: Api, context: ssl.SSLContext) -> None:
        self.api = api
        self.lock = threading.Lock()
        self.context = context
        self.requests = 0
        self.failures = 0
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, Handler)

    def get_request(self) -> tuple[socket.socket, object]:
        sock, address = super().get_request()
        return self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: object, client_address: object) -> None:
        # TLS handshakes refused (no or bad client CA) end here; they are not server faults.
        log.debug("connection from %s ended: %s", client_address, sys.exc_info()[1])


def tls_context(cert: Path, key: Path, client_ca: Path | None) -> ssl.SSLContext:
    """Server TLS: our certificate; client certificates verified against the CA when given."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca))
        context.verify_mode = ssl.CERT_OPTIONAL
    context.set_alpn_protocols(["http/1.1"])
    return context


def parse_flags(argv: list[str]) -> argparse.Namespace:
    """kube-apiserver's flags that matter here; unknown ones are accepted and ignored."""
    parser = argparse.ArgumentParser(prog="kube-apiserver", allow_abbrev=False)
    parser.add_argument("--advertise-address", default="")
    parser.add_argument("--bind-address", default="0.0.0.0")
    parser.add_argument("--secure-port", type=int, default=6443)
    parser.add_argument("--client-ca-file", type=Path)
    parser.add_argument("--tls-cert-file", type=Path, required=True)
    parser.add_argument("--tls-private-key-file", type=Path, required=True)
    parser.add_argument("--cluster-signing-cert-file", type=Path)
    parser.add_argument("--cluster-signing-key-file", type=Path)
    parser.add_argument("--service-cluster-ip-range", default="10.96.0.0/12")
    parser.add_argument("--allocate-node-cidrs", default="false")
    parser.add_argument("--cluster-cidr", default="")
    parser.add_argument("--node-cidr-mask-size", type=int, default=24)
    parser.add_argument("--kubefake-etcd-data-dir", type=Path, default=Path("/var/lib/etcd"))
    parser.add_argument("--kubefake-version", default="")
    flags, _unknown = parser.parse_known_args(argv)
    return flags


def build(flags: argparse.Namespace) -> ApiHTTPServer:
    """The server for these flags (bound, not yet serving)."""
    ca = None
    if flags.cluster_signing_cert_file and flags.cluster_signing_key_file:
        ca = pki.load_pair(flags.cluster_signing_cert_file.read_bytes(), flags.cluster_signing_key_file.read_bytes())
    store = Store.open(flags.kubefake_etcd_data_dir / STATE_FILE)
    release = Release(flags.kubefake_version) if flags.kubefake_version else current()
    api = Api(store, release, f"{flags.advertise_address or flags.bind_address}:{flags.secure_port}", ca_pair=ca)
    if flags.allocate_node_cidrs == "true" and flags.cluster_cidr:
        api.controllers.cluster_cidr = flags.cluster_cidr.split(",")[0]
        api.controllers.node_mask = flags.node_cidr_mask_size
    network = ipaddress.ip_network(flags.service_cluster_ip_range.split(",")[0], strict=False)
    api.seed(utcnow(), str(network.network_address + 1), flags.secure_port)
    context = tls_context(flags.tls_cert_file, flags.tls_private_key_file, flags.client_ca_file)
    return ApiHTTPServer((flags.bind_address, flags.secure_port), api, context)


def run_controllers(server: ApiHTTPServer, stop: threading.Event, period: float = 2.0) -> None:
    """The controllers' timer (token expiry, node heartbeats, daemon pods)."""
    while not stop.wait(period):
        try:
            with server.lock:
                server.api.controllers.run(utcnow())
        except Exception:  # keep the timer alive; the next pass retries
            log.error("controllers failed:\n%s", traceback.format_exc())


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s kube-apiserver %(message)s")
    flags = parse_flags(sys.argv[1:] if argv is None else argv)
    server = build(flags)
    stop = threading.Event()
    threading.Thread(target=run_controllers, args=(server, stop), daemon=True).start()
    log.info("serving securely on %s:%d (%s)", flags.bind_address, flags.secure_port, "simulated by the appliance lab")
    try:
        server.serve_forever(poll_interval=0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
