"""``GET /api/v1/events``: a WebSocket of live status (and, later, alerts) for the UIs.

Authentication: ``Authorization: Bearer`` or, for browsers, ``?token=`` (keep the access log
scrubbing query strings). The first message is a snapshot of every source the principal may
see: ``{"v": 1, "type": "snapshot", "states": {id: state, ...}}``; then the coalesced deltas
of ``fh:live`` (``{"v": 1, "type": "status", "changes": [...]}``) reduced to the changes the
principal may see. Messages of other types pass through unchanged when they carry no
``source_id``/``group`` or when the principal sees that source/group. After the process lost
its ``fh:live`` subscription (messages may have been missed) each socket gets a new snapshot.

One ``fh:live`` subscription per process (:class:`~mediaserver.registry.events.LiveFeed`) fans
out to a bounded queue per socket; a socket whose queue overflows is closed with 1013 (try
again later) and never stalls the others. aiohttp pings every ``heartbeat`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import WSCloseCode, web
from multidict import CIMultiDict
from redis.asyncio import Redis

from ..errors import AccessDenied
from ..http.access import Access
from ..http.errors import json_error
from ..registry.events import EVENT_VERSION, LiveFeed, LiveListener, encode
from ..registry.sources import SourceRegistry
from ..registry.status import StatusBoard

logger = logging.getLogger(__name__)

CLOSE_TOO_SLOW = WSCloseCode.TRY_AGAIN_LATER  # 1013


class EventsWebSocket:
    """Owns the live feed and the open sockets (``start``/``aclose``)."""

    def __init__(self, status_board: StatusBoard, registry: SourceRegistry, access: Access,
                 redis: Redis, *, prefix: str | None = None, heartbeat: float = 20.0,
                 queue_size: int = 64, max_clients: int = 1000, group_ttl: float = 30.0) -> None:
        self.status = status_board
        self.registry = registry
        self.access = access
        self.feed = LiveFeed(redis, registry.prefix if prefix is None else prefix)
        self.feed.observers.append(status_board.observe)
        self.heartbeat = heartbeat
        self.queue_size = queue_size
        self.max_clients = max_clients
        self.group_ttl = group_ttl
        self._groups: dict[str, tuple[str | None, float]] = {}
        self._sockets: set[web.WebSocketResponse] = set()
        self.stats = {"connections": 0, "dropped_slow": 0, "messages": 0, "snapshots": 0}

    def add_routes(self, app: web.Application) -> None:
        """Add the route and tie the feed to the app's lifecycle (started with the app;
        sockets closed and the feed stopped on shutdown)."""
        app.router.add_get("/api/v1/events", self.handle)
        app.on_startup.append(self._on_startup)
        app.on_shutdown.append(self._on_shutdown)

    async def _on_startup(self, _app: web.Application) -> None:
        await self.start()

    async def _on_shutdown(self, _app: web.Application) -> None:
        await self.aclose()

    async def start(self) -> None:
        await self.feed.start()

    async def aclose(self) -> None:
        """Close every socket (1001 going away), then the feed."""
        sockets, self._sockets = list(self._sockets), set()
        await asyncio.gather(*(asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY), 2.0)
                               for ws in sockets), return_exceptions=True)
        await self.feed.aclose()

    @property
    def client_count(self) -> int:
        return len(self._sockets)

    # -- connection ---------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.StreamResponse:
        try:
            principal = await self.access.authenticate(_with_query_token(request))
            self.access.require(principal, "view")
        except AccessDenied as exc:
            status = 401 if exc.status == 401 else 403
            return json_error(status, "unauthorized" if status == 401 else "forbidden",
                              str(exc) or "access denied")
        if len(self._sockets) >= self.max_clients:
            return json_error(503, "busy", "too many event sockets", headers={"Retry-After": "5"})
        await self.feed.start()  # no-op once running
        ws = web.WebSocketResponse(heartbeat=self.heartbeat, max_msg_size=64 * 1024)
        if not request.headers.get("Sec-WebSocket-Key", "").isascii():
            # aiohttp's handshake raises ValueError (a 500) on a non-ASCII key
            return json_error(400, "bad_request", "not a valid WebSocket handshake")
        await ws.prepare(request)
        self._sockets.add(ws)
        self.stats["connections"] += 1
        listener = self.feed.listen(self.queue_size)  # before the snapshot: nothing is lost
        tasks: list[asyncio.Task[Any]] = []
        try:
            tasks = [asyncio.create_task(self._send_loop(ws, listener, principal)),
                     asyncio.create_task(self._read_loop(ws)),
                     asyncio.create_task(listener.overflowed.wait())]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            listener.close()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self._sockets.discard(ws)
            await self._close(request, ws, listener.overflowed.is_set())
        return ws

    async def _close(self, request: web.Request, ws: web.WebSocketResponse, slow: bool) -> None:
        if slow:
            self.stats["dropped_slow"] += 1
            logger.info("events: closing a slow socket from %s", request.remote)
        stuck = slow
        try:
            await asyncio.wait_for(ws.close(code=CLOSE_TOO_SLOW if slow else WSCloseCode.OK,
                                            message=b"too slow" if slow else b""), 1.0)
        except (TimeoutError, ConnectionError):
            stuck = True
        transport = request.transport
        if stuck and transport is not None and not transport.is_closing():
            transport.abort()  # the peer does not read: don't wait for it to drain

    async def _read_loop(self, ws: web.WebSocketResponse) -> None:
        async for _msg in ws:  # clients send nothing we act on; this handles close and pong
            pass

    async def _send_loop(self, ws: web.WebSocketResponse, listener: LiveListener,
                         principal: Any) -> None:
        await ws.send_str(encode(await self._snapshot(principal)))
        while True:
            event = await listener.queue.get()
            if event.get("type") == "resync":
                out: dict[str, Any] | None = await self._snapshot(principal)
            else:
                out = await self._filter(event, principal)
            if out is not None:
                await ws.send_str(encode(out))
                self.stats["messages"] += 1

    # -- content ------------------------------------------------------------------------

    async def _snapshot(self, principal: Any) -> dict[str, Any]:
        ids = await self.registry.visible_ids(lambda g: self.access.sees_group(principal, g))
        known = self.status.snapshot()
        self.stats["snapshots"] += 1
        return {"v": EVENT_VERSION, "type": "snapshot",
                "states": {sid: known.get(sid, "offline") for sid in sorted(ids)}}

    async def _filter(self, event: dict[str, Any], principal: Any) -> dict[str, Any] | None:
        """The part of ``event`` the principal may see (None: nothing)."""
        if event.get("type") == "status" and isinstance(event.get("changes"), list):
            changes = [c for c in event["changes"] if isinstance(c, dict)]
            groups = await self._groups_of({str(c.get("source_id")) for c in changes})
            visible = [c for c in changes if self._sees(principal,
                                                        groups.get(str(c.get("source_id"))))]
            return {**event, "changes": visible} if visible else None
        group = event.get("group")
        if isinstance(group, str) and not self.access.sees_group(principal, group):
            return None
        source_id = event.get("source_id")
        if isinstance(source_id, str):
            groups = await self._groups_of({source_id})
            if not self._sees(principal, groups.get(source_id)):
                return None
        return event

    def _sees(self, principal: Any, group: str | None) -> bool:
        return group is not None and self.access.sees_group(principal, group)

    async def _groups_of(self, ids: set[str]) -> dict[str, str | None]:
        """Group of each source id, cached for ``group_ttl`` s (None: no such source)."""
        now = time.monotonic()
        out: dict[str, str | None] = {}
        missing = []
        for sid in ids:
            hit = self._groups.get(sid)
            if hit is not None and now - hit[1] < self.group_ttl:
                out[sid] = hit[0]
            else:
                missing.append(sid)
        if missing:
            redis = self.registry.redis
            async with redis.pipeline(transaction=False) as pipe:
                for sid in missing:
                    pipe.hget(self.registry.source_key(sid), "group")
                found = await pipe.execute()
            if len(self._groups) > 500_000:
                self._groups.clear()
            for sid, group in zip(missing, found, strict=True):
                self._groups[sid] = (group, now)
                out[sid] = group
        return out


def _with_query_token(request: web.Request) -> web.Request:
    """Browsers cannot set headers on a WebSocket: accept ``?token=`` as a bearer token."""
    token = request.rel_url.query.get("token")
    if not token or "Authorization" in request.headers:
        return request
    headers = CIMultiDict(request.headers)
    headers["Authorization"] = f"Bearer {token}"
    return request.clone(headers=headers)
