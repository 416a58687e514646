"""Event schemas (``"v": 1``) and the live feed: one ``fh:live`` subscription per process,
fanned out to bounded listener queues.

Status events (``fh:events:status`` entries and the ``changes`` of ``fh:live`` messages)::

    {"v": 1, "type": "status", "source_id": "cam-1", "state": "streaming", "prev": "online",
     "since": 1715000000.123, "node": "hub-a", "codec": "h264", "width": 1920, ...}

A ``fh:live`` message carries every change since the previous one (coalesced, at most one per
~250 ms per node): ``{"v": 1, "type": "status", "changes": [<status event>, ...]}``. Other
``type`` values (alerts) travel on the same channel and are passed through unchanged.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..store.connection import cancel_and_wait, reraise_if_cancelling

logger = logging.getLogger(__name__)

EVENT_VERSION = 1
#: Internal message a listener receives after the feed reconnected (messages may be lost).
RESYNC: dict[str, Any] = {"v": EVENT_VERSION, "type": "resync"}


def encode(event: dict[str, Any]) -> str:
    """Compact JSON of an event."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def decode(raw: str | bytes) -> dict[str, Any] | None:
    """Parse an event; None for anything that is not a JSON object with ``"v": 1``."""
    try:
        event = json.loads(raw)
    except (ValueError, TypeError):
        return None
    if not isinstance(event, dict) or event.get("v") != EVENT_VERSION:
        return None
    return event


class LiveListener:
    """One consumer of the live feed: a bounded queue; overflow marks it ``overflowed``."""

    def __init__(self, feed: LiveFeed, maxsize: int) -> None:
        self._feed = feed
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize)
        self.overflowed = asyncio.Event()
        self.dropped = 0

    def offer(self, event: dict[str, Any]) -> None:
        if self.overflowed.is_set():
            self.dropped += 1
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.overflowed.set()

    def close(self) -> None:
        self._feed.remove(self)


class LiveFeed:
    """Subscribes once to ``{prefix}live`` and hands each event to every listener (and to
    ``observers``, synchronous callbacks such as :meth:`StatusBoard.observe`). Reconnects
    with backoff; after a reconnect every listener gets :data:`RESYNC`."""

    def __init__(self, redis: Redis, prefix: str = "fh:") -> None:
        self.redis = redis
        self.channel = f"{prefix}live"
        self.observers: list[Callable[[dict[str, Any]], None]] = []
        self._listeners: set[LiveListener] = set()
        self._task: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self.received = 0
        self.invalid = 0
        self.reconnects = 0

    def listen(self, maxsize: int = 256) -> LiveListener:
        listener = LiveListener(self, maxsize)
        self._listeners.add(listener)
        return listener

    def remove(self, listener: LiveListener) -> None:
        self._listeners.discard(listener)

    @property
    def listener_count(self) -> int:
        return len(self._listeners)

    async def start(self, timeout: float = 5.0) -> None:
        """Start the subscriber task and wait (bounded) until the subscription is active."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="live-feed")
        if self._subscribed.is_set():
            return
        try:
            await asyncio.wait_for(self._subscribed.wait(), timeout)
        except TimeoutError:
            logger.warning("live feed: not subscribed to %s yet", self.channel)

    async def aclose(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _run(self) -> None:
        delay = 0.5
        first = True
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._subscribed.set()
                if not first:
                    self.reconnects += 1
                    self._dispatch(RESYNC)
                first, delay = False, 0.5
                async for message in pubsub.listen():
                    if message.get("type") == "message":
                        self._handle(message["data"])
            except (RedisError, OSError) as exc:
                reraise_if_cancelling(exc)
                logger.warning("live feed: %s lost (%s); resubscribing in %.1f s",
                               self.channel, type(exc).__name__, delay)
            finally:
                self._subscribed.clear()
                await pubsub.aclose()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    def _handle(self, raw: str) -> None:
        event = decode(raw)
        if event is None:
            self.invalid += 1
            return
        self.received += 1
        for observer in self.observers:
            try:
                observer(event)
            except Exception:  # noqa: BLE001 - one faulty observer must not stop the feed
                logger.exception("live feed observer failed")
        self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        for listener in list(self._listeners):
            listener.offer(event)
