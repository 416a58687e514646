"""Times when sources turn live, from the hub's events WebSocket (``/api/v1/events``).

The hub stamps every state change with ``since`` (its Unix time) and coalesces deltas to at
most about four per second, keeping the newest change per source: a source that went
``online`` and ``streaming`` within one window shows only ``streaming`` (still stamped with
its own time). :meth:`StatusWatcher.first_live` therefore answers "when did this source turn
live after ``after``" from the stamps, not from arrival times. Timings compare the hub's
clock with this machine's: run against a hub on the same machine (or a synced clock).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque

import aiohttp

logger = logging.getLogger(__name__)

LIVE = ("online", "streaming")
#: changes kept per source (oldest dropped)
MAX_CHANGES = 256
#: seconds between reconnects of a lost socket
RETRY = 1.0


class StatusWatcher:
    """One events socket; ``start()`` connects (raises if the hub refuses), ``aclose()``."""

    def __init__(self, events_url: str, token: str | None, *,
                 http: aiohttp.ClientSession | None = None) -> None:
        self.url = events_url
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = http
        self._own_http = http is None
        self._task: asyncio.Task | None = None
        self._connected = asyncio.Event()
        self._refused = asyncio.Event()
        self.changes: dict[str, deque[tuple[str, float]]] = {}
        self.messages = 0
        self.reconnects = 0
        self.error: str | None = None

    async def start(self, timeout: float = 10.0) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run(), name="status-watch")
        waits = [asyncio.ensure_future(e.wait()) for e in (self._connected, self._refused)]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waits:
                waiter.cancel()
            await asyncio.wait(waits)
        if not self._connected.is_set():
            await self.aclose()
            raise RuntimeError(f"events socket not connected: {self.error or 'timeout'}")

    async def _run(self) -> None:
        assert self._http is not None
        while True:
            try:
                async with self._http.ws_connect(self.url, headers=self._headers,
                                                 heartbeat=30) as ws:
                    self._connected.set()
                    async for message in ws:
                        if message.type == aiohttp.WSMsgType.TEXT:
                            self.observe(message.data)
                self.error = "socket closed"
            except aiohttp.WSServerHandshakeError as exc:
                self.error = f"refused: {exc.status} {exc.message}"[:200]
                if exc.status in (401, 403, 404):  # retrying will not help
                    self._refused.set()
                    return
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                self.error = f"{type(exc).__name__}: {exc}"[:200]
            self.reconnects += 1
            await asyncio.sleep(RETRY)

    def observe(self, text: str) -> None:
        """One message of the socket (bad ones are ignored)."""
        try:
            message = json.loads(text)
        except ValueError:
            return
        if not isinstance(message, dict) or message.get("type") != "status":
            return
        self.messages += 1
        for change in message.get("changes") or ():
            try:
                source_id, state = str(change["source_id"]), str(change["state"])
                since = float(change["since"])
            except (KeyError, TypeError, ValueError):
                continue
            self.changes.setdefault(source_id, deque(maxlen=MAX_CHANGES)).append((state,
                                                                                  since))

    def first_live(self, source_id: str, after: float, state: str | None = None
                   ) -> float | None:
        """Hub time of the first change of ``source_id`` to ``state`` (default: online or
        streaming) stamped at or after ``after`` (Unix time), or None if none was seen."""
        wanted = (state,) if state else LIVE
        stamps = [since for s, since in self.changes.get(source_id, ())
                  if s in wanted and since >= after]
        return min(stamps, default=None)

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None
