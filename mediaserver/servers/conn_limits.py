"""Connection caps of a listener (a global and a per-IP limit on concurrent connections) and
the tasks that serve its connections.

Shared by the RTSP server (:mod:`mediaserver.servers.rtsp.server`) and the RTMP ingest
(:mod:`mediaserver.servers.rtmp.server`); ``stats`` is the server's counters object, which has
``connections_total``, ``connections_active`` and ``connections_rejected``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Coroutine
from typing import Any, Protocol


class ConnectionCounters(Protocol):
    connections_total: int
    connections_active: int
    connections_rejected: int


class ConnectionCaps:
    """Admits, refuses and counts one listener's connections."""

    def __init__(self, protocol: str, stats: ConnectionCounters, logger: logging.Logger) -> None:
        self.protocol = protocol
        self.stats = stats
        self.logger = logger
        #: open connections per peer IP (an IP with none has no entry)
        self.per_ip: collections.Counter[str] = collections.Counter()

    def full(self, ip: str, active: int, max_connections: int, max_per_ip: int) -> bool:
        """True when one more connection from ``ip`` would pass a cap."""
        return active >= max_connections or self.per_ip[ip] >= max_per_ip

    def refuse(self, ip: str) -> None:
        """Count a refused connection; logs the first of every hundred."""
        self.stats.connections_rejected += 1
        if self.stats.connections_rejected % 100 == 1:
            self.logger.warning("%s connection from %s refused: connection limit reached "
                                "(%d refused so far)", self.protocol, ip,
                                self.stats.connections_rejected)

    def opened(self, ip: str) -> None:
        self.per_ip[ip] += 1
        self.stats.connections_total += 1
        self.stats.connections_active += 1

    def closed(self, ip: str) -> None:
        self.per_ip[ip] -= 1
        if not self.per_ip[ip]:
            del self.per_ip[ip]
        self.stats.connections_active -= 1


def spawn(tasks: set[asyncio.Task[None]], coro: Coroutine[Any, Any, None], name: str) -> None:
    """Run ``coro`` in a task kept in ``tasks`` until it is done."""
    task = asyncio.create_task(coro, name=name)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


async def finish(tasks: set[asyncio.Task[None]], timeout: float) -> None:
    """Let ``tasks`` end within ``timeout`` seconds, then cancel and await the rest."""
    tasks = set(tasks)
    if tasks:
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
