"""The network daemon: loads cluster.yaml, builds the NetdContext, starts the registry
link and the selected services (dhcp, dns, nat, routes, api) and stops them cleanly on
SIGTERM/SIGINT.

Services are imported lazily by name, so `--only dhcp` never imports nftables or
netlink code, and a build without one service still runs the others. Without
`--only`, every service whose module exists is started; naming one whose module
does not exist is an error with one actionable line.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import signal
from pathlib import Path
from types import ModuleType

from foundation.config.model import Config
from foundation.errors import EnvironmentProblem, UsageError
from netd.bus import EventBus
from netd.registry_link import RegistryLink
from netd.service import NetdContext, Service

log = logging.getLogger(__name__)

SERVICE_MODULES = {
    "dhcp": "netd.dhcp.service",
    "dns": "netd.dns.service",
    "nat": "netd.nat.service",
    "routes": "netd.routes.service",
    "api": "netd.api.service",
}
"""Service name (as `--only` spells it) -> module exposing `create(ctx) -> Service`."""


def parse_only(text: str | None) -> tuple[list[str], bool]:
    """(service names in start order, whether the user chose them) from `--only a,b`."""
    if text is None:
        return list(SERVICE_MODULES), False
    names = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [name for name in names if name not in SERVICE_MODULES]
    if unknown or not names:
        raise UsageError(f"--only {text!r}: unknown service {', '.join(unknown) or '(none)'}; "
                         f"choose from {','.join(SERVICE_MODULES)}")
    return [name for name in SERVICE_MODULES if name in names], True


def _import_service(name: str, explicit: bool) -> ModuleType | None:
    module_name = SERVICE_MODULES[name]
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        missing_itself = error.name is not None and module_name.startswith(error.name)
        if not missing_itself:
            raise  # the service exists but one of its dependencies does not: a real bug
        if explicit:
            raise EnvironmentProblem(
                f"netd service {name!r} is not part of this build (module {module_name} is "
                f"missing); drop it from --only or update the appliance") from error
        log.info("netd: service %s not in this build, skipped", name)
        return None


def create_services(names: list[str], explicit: bool, ctx: NetdContext) -> list[Service]:
    """Import and create the services named, in order."""
    services: list[Service] = []
    for name in names:
        module = _import_service(name, explicit)
        if module is not None:
            services.append(module.create(ctx))
    return services


class NetdServices:
    """The registry link and the selected services, started in order and stopped in reverse.

    `netd run` uses it alone; `appliance master run` uses it inside its own daemon, so the
    services are created in one place only.
    """

    def __init__(self, config: Config, state_dir: Path, only: str | None = None) -> None:
        names, explicit = parse_only(only)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise EnvironmentProblem(f"cannot create state directory {state_dir}: {error.strerror}; "
                                     "pass a writable --state-dir") from error
        self.ctx = NetdContext(config=config, bus=EventBus(), state_dir=state_dir)
        # The registry link always runs: it is how leases become nodes (names, pod CIDRs) for
        # DNS and routes, and it must be up before they take their first snapshot.
        self.link = RegistryLink(self.ctx)
        self.ctx.known_nodes = self.link.known_nodes
        self.services = create_services(names, explicit, self.ctx)
        if not self.services:
            raise EnvironmentProblem("no netd service is available in this build; nothing to run")
        self._started: list[Service] = []

    def service(self, name: str) -> Service | None:
        """The running service called `name` (dhcp, dns, nat, routes, api), if any."""
        return next((service for service in self.services if service.name == name), None)

    async def start(self) -> None:
        """Start the link, then every service in order (each returns once serving)."""
        await self.link.start()
        self._started.append(self.link)
        for service in self.services:
            await service.start()
            self._started.append(service)
        log.info("netd ready: %s", ",".join(s.name for s in self._started if s is not self.link))

    async def stop(self) -> None:
        """Stop what started, in reverse order; NAT, routes and leases stay in the kernel and on disk."""
        while self._started:
            service = self._started.pop()
            try:
                await service.stop()
            except Exception:  # stop the others even if one fails; report it
                log.exception("netd: stopping %s failed", service.name)


def freeze_startup_objects() -> None:
    """Keep what was loaded at start (config, 50,000 leases) out of the cyclic GC's scans.

    Packets are freed by reference counting; the GC only matters for cycles, which the hot
    paths avoid, so young objects are collected less often too.
    """
    gc.freeze()
    gc.set_threshold(20000, 20, 20)


async def serve(config: Config, state_dir: Path, only: str | None) -> None:
    """Run the selected services until SIGTERM or SIGINT, then stop them in reverse order."""
    netd = NetdServices(config, state_dir, only)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stopping.set)
    try:
        await netd.start()
        freeze_startup_objects()
        await stopping.wait()
        log.info("netd stopping")
    finally:
        await netd.stop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
    log.info("netd stopped")


def run(config_path: Path, state_dir: Path, only: str | None) -> None:
    """Load cluster.yaml and serve in the foreground."""
    from foundation.config import load_config

    config = load_config(config_path)
    asyncio.run(serve(config, state_dir, only))
