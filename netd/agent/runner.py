"""The node agent's main loop: report to the master, program routes, write the CNI config.

Every interval the agent POSTs a report (liveness) and gets back its config
(pod CIDR, the route set). It programs the routes with the same keeper as
the master (tagged protocol, reacts to netlink at once) and writes the CNI
conflist. When the master is unreachable it keeps what it has (routes stay,
the keeper keeps repairing them) and retries with exponential backoff and
jitter (netd.agent.schedule); the last config is saved in the state directory
so an agent restarted while the master is down still programs routes.
Standard library + pyroute2 only (Debian bookworm's python3-pyroute2 0.7).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from pyroute2 import IPRoute

from foundation import __version__
from foundation.errors import ApplianceError
from netd.agent.client import CredentialRejected, MasterClient
from netd.agent.credential import read_credential
from netd.agent.protocol import AgentConfig, ProtocolError, Report, config_to_json, parse_config
from netd.agent.schedule import ReportSchedule
from netd.agent.usage import UsageCollector
from netd.agent.usage_report import UsageReport
from netd.cni import CNI_CONF_DIR, write_atomically, write_cni_config
from netd.routes.keeper import RouteKeeper

log = logging.getLogger(__name__)

LAST_CONFIG_FILE = "last-config.json"


@dataclass(frozen=True)
class AgentOptions:
    """How the agent is run (`appliance agent run`)."""

    master_url: str
    """The master's agent API, e.g. http://10.0.0.1:8081."""
    state_dir: Path
    """Holds the credential file and the last config."""
    cni_dir: Path = CNI_CONF_DIR
    """Where the CNI conflist goes."""
    min_backoff: float = 1.0
    """First retry delay (seconds) after the master did not answer."""
    max_backoff: float = 60.0
    """Longest retry delay (seconds)."""
    resync_interval: float = 30.0
    """Full route resync period (seconds), besides netlink events."""


def interface_on(subnet: IPv4Network) -> tuple[str, IPv4Address] | None:
    """The interface (and its address) that has an address in `subnet`, if any."""
    with IPRoute() as ipr:
        names = {int(msg["index"]): msg.get_attr("IFLA_IFNAME") for msg in ipr.link("dump")}
        for msg in ipr.addr("dump", family=socket.AF_INET):
            local = msg.get_attr("IFA_LOCAL") or msg.get_attr("IFA_ADDRESS")
            if local and IPv4Interface(f"{local}/{msg['prefixlen']}").ip in subnet:
                name = names.get(int(msg["index"]))
                if name:
                    return str(name), IPv4Address(local)
    return None


class Agent:
    """One node's agent."""

    def __init__(self, options: AgentOptions) -> None:
        self.options = options
        self.schedule = ReportSchedule(options.min_backoff, options.max_backoff)
        """When the next report is due."""
        self.config: AgentConfig | None = None
        """The config in force (from the master or restored from disk)."""
        self.keeper: RouteKeeper | None = None
        self.errors: list[str] = []
        self._client: MasterClient | None = None
        self._usage: UsageCollector | None = None

    def run(self, stop: threading.Event) -> None:
        """Work until `stop` is set; routes stay in the kernel afterwards."""
        self._restore()
        try:
            while not stop.is_set():
                due = self.schedule.next(time.monotonic(), self.step())
                stop.wait(max(0.0, due - time.monotonic()))
        finally:
            if self.keeper is not None:
                self.keeper.stop()

    def step(self) -> float | None:
        """One report round; the master's report interval, or None when it did not answer."""
        try:
            if self._client is None:
                self._client = MasterClient(self.options.master_url, read_credential(self.options.state_dir))
            config = self._client.report(self._report())
        except CredentialRejected as error:
            self._note(str(error))
            self._client = None  # re-read the file next time: it may have been re-issued
            return None
        except (ApplianceError, ProtocolError) as error:
            self._note(str(error))
            return None
        if self.schedule.failures:
            log.info("master %s answers again", self.options.master_url)
        try:
            self.apply(config)
        except Exception as error:  # the agent must outlive any one bad round
            log.exception("applying the config failed")
            self._note(f"applying the config failed: {error}")
        self._save(config)
        return config.report_interval

    def apply(self, config: AgentConfig) -> None:
        """Program routes and write the CNI config for `config`."""
        if self.config is None or config.pod_cidr != self.config.pod_cidr:
            if write_cni_config(config.pod_cidr, self.options.cni_dir):
                log.info("wrote CNI config for pod CIDR %s in %s", config.pod_cidr, self.options.cni_dir)
        found = interface_on(config.lan_subnet)
        if found is None:
            self._note(f"no interface has an address in {config.lan_subnet}; routes wait for one")
        else:
            name, _address = found
            if self.keeper is None or self.keeper.interface != name:
                if self.keeper is not None:
                    self.keeper.stop()
                self.keeper = RouteKeeper(name, resync_interval=self.options.resync_interval)
                self.keeper.start()
            self.keeper.set_routes(config.routes)
        self.config = config

    def _report(self) -> Report:
        programmed = 0
        if self.keeper is not None and self.keeper.last is not None:
            programmed = max(0, len(self.keeper.wanted) - len(self.keeper.last.failures))
        errors, self.errors = self.errors[-16:], []
        return Report(
            routes_programmed=programmed,
            pod_cidr=self.config.pod_cidr if self.config else None,
            errors=tuple(line[:200] for line in errors),
            agent_version=__version__,
            usage=self._measure(),
        )

    def _measure(self) -> UsageReport | None:
        """The node's and its pods' CPU and memory (None, noted, if they cannot be read)."""
        try:
            if self._usage is None:
                self._usage = UsageCollector.for_this_node()
            return self._usage.collect(time.monotonic())
        except Exception as error:  # accounting must never keep the agent from reporting
            self._note(f"CPU and memory not measured: {error}")
            return None

    def _note(self, line: str) -> None:
        log.warning("%s", line)
        self.errors.append(line)

    def _save(self, config: AgentConfig) -> None:
        try:
            write_atomically(self.options.state_dir / LAST_CONFIG_FILE, config_to_json(config).decode())
        except OSError as error:
            self._note(f"cannot save the last config in {self.options.state_dir}: {error.strerror}")

    def _restore(self) -> None:
        path = self.options.state_dir / LAST_CONFIG_FILE
        try:
            config = parse_config(path.read_bytes())
        except FileNotFoundError:
            return
        except (OSError, ProtocolError) as error:
            log.warning("ignoring %s: %s", path, error)
            return
        log.info("restoring the last config from %s until the master answers", path)
        self.apply(config)
