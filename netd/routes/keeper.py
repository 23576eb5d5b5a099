"""Keeps the kernel's routes of our protocol (and optionally one interface address) as wanted.

One thread owns the netlink request socket (see netd.routes.kernel) and
reconciles: at start, whenever the wanted set changes, at once when the
kernel reports something that may have broken or unblocked our state (a
route of ours deleted, our interface re-created or brought up, an address
on it removed or added, notifications lost to ENOBUFS), and otherwise when
its ResyncSchedule says: after a failure with backoff, and every
`resync_interval` seconds regardless. The schedule is pure (it takes `now`),
so its policy is tested by stepping a clock; the root tests prove the wiring.
The master's routes service and the node agent both use the keeper; it needs
only the stdlib and pyroute2 (0.7 or 0.9).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from netd.netlink_watch import AddressChange, LinkChange, NetlinkEvent, NetlinkWatcher, RouteChange
from netd.routes.kernel import MAIN_TABLE, InterfaceAddress, KernelRoutes
from netd.routes.plan import RTPROT_APPLIANCE, PodRoute, RouteOp, plan_routes

log = logging.getLogger(__name__)

RETRY_FIRST = 0.1
"""Seconds before the first retry after a failed reconcile (doubles up to the resync interval)."""


@dataclass
class ResyncSchedule:
    """When the keeper reconciles next, besides the events that wake it at once.

    After a reconcile that converged: the periodic resync, `resync_interval` later. After
    one that failed: a retry, `first_retry` later, doubling with each failure in a row up
    to `resync_interval` (a link can stay down for hours; the kernel events that may mend
    things wake the keeper anyway). No jitter: a keeper talks only to its own node's
    kernel, so there is no crowd of keepers to spread out.
    """

    resync_interval: float
    """Seconds between full resyncs, and the longest wait before a retry."""
    first_retry: float = RETRY_FIRST
    """Seconds before the first retry after a failure."""
    failures: int = 0
    """Failed reconciles in a row (0 after one that converged)."""

    def next(self, now: float, converged: bool) -> float:
        """When (on the clock of `now`) to reconcile next, after one that finished at `now`."""
        if converged:
            self.failures = 0
            return now + self.resync_interval
        delay = min(self.first_retry * 2 ** min(self.failures, 64), self.resync_interval)
        self.failures += 1
        return now + delay


@dataclass(frozen=True)
class ReconcileResult:
    """What one reconcile did."""

    ops: tuple[RouteOp, ...]
    """Route operations carried out (attempted)."""
    address_added: bool
    """Whether the kept address had to be put back."""
    failures: tuple[str, ...]
    """One line per failed operation (empty when all went well)."""
    finished: float
    """time.monotonic() when it finished."""


class RouteKeeper:
    """Reconciles routes via `interface` (and keeps `address` on it) in a thread of its own."""

    def __init__(
        self,
        interface: str,
        address: InterfaceAddress | None = None,
        resync_interval: float = 30.0,
    ) -> None:
        self.interface = interface
        self.address = address
        self.resync_interval = resync_interval
        self._wanted: frozenset[PodRoute] = frozenset()
        self._index: int | None = None
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._cond = threading.Condition()
        self._requested = 0
        self._converged = -1
        self.last: ReconcileResult | None = None
        """The most recent reconcile (read-only outside the keeper)."""
        self.reconciles = 0
        """How many reconciles ran."""
        self.schedule = ResyncSchedule(resync_interval)
        """When the next reconcile is due without an event (read-only outside the keeper)."""
        self.next_due = 0.0
        """time.monotonic() at which the schedule wants the next reconcile."""
        self._watcher = NetlinkWatcher(self._on_kernel_event, name=f"netlink-{interface}")
        self._thread = threading.Thread(target=self._run, name=f"routes-{interface}", daemon=True)

    def start(self) -> None:
        """Start watching the kernel and reconciling."""
        self._watcher.start()
        self._thread.start()

    def stop(self) -> None:
        """Stop; routes stay in the kernel (a restart must not cut pod traffic)."""
        self._stopping.set()
        self._wake.set()
        self._thread.join(timeout=5)
        self._watcher.stop()

    def set_routes(self, routes: Iterable[PodRoute]) -> None:
        """Make `routes` the wanted set (thread-safe, returns at once)."""
        wanted = frozenset(routes)
        with self._cond:
            if wanted == self._wanted and self._requested == self._converged:
                return
            self._wanted = wanted
            self._requested += 1
        self._wake.set()

    @property
    def wanted(self) -> frozenset[PodRoute]:
        """The current wanted set."""
        return self._wanted

    def wait_converged(self, timeout: float) -> bool:
        """Wait until a reconcile of the latest wanted set succeeded; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._converged < self._requested:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def _on_kernel_event(self, event: NetlinkEvent) -> None:
        if isinstance(event, RouteChange) and event.removed:
            # A route of ours deleted: put it back.
            relevant = event.proto == RTPROT_APPLIANCE and event.table == MAIN_TABLE
        elif isinstance(event, RouteChange):
            # Someone else's route that reaches one of our gateways: routes via it can be
            # programmed now. dhcpcd puts its address back without a prefix route
            # (noprefixroute) and adds the LAN's route just after, so the address event alone
            # comes too early and the retry backoff would keep pod routes out for seconds.
            relevant = (event.proto != RTPROT_APPLIANCE and event.table == MAIN_TABLE
                        and any(route.gateway in event.dst for route in self._wanted))
        elif isinstance(event, LinkChange):
            relevant = event.name == self.interface or event.index == self._index
        elif isinstance(event, AddressChange):
            # Removed: the kept address may need putting back. Added: routes via that subnet's
            # gateways can be programmed again (a DHCP client such as dhcpcd drops the address
            # on carrier loss and puts it back seconds after the cable returns; waiting for the
            # retry backoff instead would leave pod traffic cut for up to resync_interval).
            relevant = event.index == self._index
        else:  # Overflow
            relevant = True
        if relevant:
            with self._cond:
                self._requested += 1
            self._wake.set()

    def _run(self) -> None:
        kernel = KernelRoutes()  # belongs to this thread only (see netd.routes.kernel)
        self.next_due = time.monotonic()  # the first reconcile runs at once
        try:
            while not self._stopping.is_set():
                self._wake.wait(timeout=max(0.0, self.next_due - time.monotonic()))
                self._wake.clear()
                if self._stopping.is_set():
                    return
                with self._cond:
                    generation = self._requested
                    wanted = self._wanted
                try:
                    result = self._reconcile(kernel, wanted)
                except Exception as error:  # keep the keeper alive whatever netlink says
                    log.exception("route reconcile failed")
                    result = ReconcileResult((), False, (str(error),), time.monotonic())
                previous, self.last = self.last, result
                self.reconciles += 1
                if result.failures:
                    # Say it once per kind of trouble, not on every retry (a link can stay down for hours).
                    shown = "; ".join(result.failures[:3]) + (
                        f" (and {len(result.failures) - 3} more)" if len(result.failures) > 3 else ""
                    )
                    repeated = previous is not None and previous.failures == result.failures
                    log.log(logging.DEBUG if repeated else logging.WARNING, "route reconcile on %s: %s", self.interface, shown)
                else:
                    with self._cond:
                        self._converged = max(self._converged, generation)
                        self._cond.notify_all()
                self.next_due = self.schedule.next(result.finished, converged=not result.failures)
        finally:
            kernel.close()

    def _reconcile(self, kernel: KernelRoutes, wanted: frozenset[PodRoute]) -> ReconcileResult:
        index = kernel.ifindex(self.interface)
        self._index = index
        if index is None:
            return ReconcileResult((), False, (f"interface {self.interface} does not exist",), time.monotonic())
        added = False
        if self.address is not None:
            added = kernel.ensure_address(index, self.address)
            if added:
                log.info("put %s/%s back on %s", self.address.address, self.address.prefixlen, self.interface)
        ops = plan_routes(wanted, kernel.our_routes(), index)
        failures = kernel.apply(ops) if ops else []
        if ops:
            log.info("routes on %s: %d change(s), %d failed", self.interface, len(ops), len(failures))
        return ReconcileResult(tuple(ops), added, tuple(failures), time.monotonic())
