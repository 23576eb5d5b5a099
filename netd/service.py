"""The shape every netd service (dhcp, dns, nat, routes) has, so the daemon can run any subset."""

from __future__ import annotations

from typing import Protocol


class Service(Protocol):
    """A long-running part of netd, started and stopped by the daemon."""

    name: str
    """Short name used by `--only` (dhcp, dns, nat, routes)."""

    async def start(self) -> None:
        """Bind sockets, apply state, and start background tasks; return once serving."""

    async def stop(self) -> None:
        """Stop serving and release every resource."""
