"""The login rate limit: a pure policy over failed attempts, with an explicit `now`.

A client (by address) may fail `limit` times within `window` seconds; after
that it is refused until the oldest failure leaves the window. A global cap
on failures from everyone together stops a guesser who spreads over many
addresses (the home network is one NAT away from the page). Success clears
the client's failures. Memory is bounded: at most `max_clients` addresses
are remembered, the stalest dropped first.

Written by hand rather than with Flask-Limiter: this is a dozen lines of
policy, Flask-Limiter would bring `limits`, `ordered-set` and `rich` for it,
and its clock cannot be stepped in a test.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field


@dataclass
class LoginThrottle:
    """Failed-login bookkeeping per client address and for all clients together."""

    limit: int = 5
    """Failures a client may have within `window` before it must wait."""
    window: float = 300.0
    """Seconds a failure counts against its client."""
    global_limit: int = 50
    """Failures from all clients together within `window` before everyone must wait."""
    max_clients: int = 10_000
    """Most client addresses remembered."""
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)
    _everyone: deque[float] = field(default_factory=deque)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, client: str, now: float) -> float:
        """Seconds `client` must wait before trying again (0: it may try now)."""
        with self._lock:
            self._expire(self._everyone, now)
            wait = 0.0
            if len(self._everyone) >= self.global_limit:
                wait = self._everyone[0] + self.window - now
            mine = self._failures.get(client)
            if mine is not None:
                self._expire(mine, now)
                if len(mine) >= self.limit:
                    wait = max(wait, mine[0] + self.window - now)
            return max(wait, 0.0)

    def failed(self, client: str, now: float) -> None:
        """Record a failed attempt by `client`."""
        with self._lock:
            mine = self._failures.pop(client, None) or deque()
            self._expire(mine, now)
            mine.append(now)
            self._failures[client] = mine  # most recent last
            while len(self._failures) > self.max_clients:
                self._failures.popitem(last=False)
            self._expire(self._everyone, now)
            self._everyone.append(now)

    def succeeded(self, client: str) -> None:
        """Forget `client`'s failures (it knows the password)."""
        with self._lock:
            self._failures.pop(client, None)

    def _expire(self, times: deque[float], now: float) -> None:
        while times and times[0] <= now - self.window:
            times.popleft()
