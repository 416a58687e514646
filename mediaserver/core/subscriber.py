"""A bounded per-consumer queue of access units that drops to the next keyframe when full."""

from __future__ import annotations

import asyncio
import collections
import logging
import time

from ..errors import SubscriberClosed
from .access_unit import AccessUnit

logger = logging.getLogger(__name__)

#: Default queue length in access units: about 4 s of 25 fps video.
DEFAULT_MAXSIZE = 100


class Subscriber:
    """One consumer of a :class:`~mediaserver.core.stream.Stream`.

    The stream calls :meth:`offer` (never blocks); the consumer awaits :meth:`recv`. When the
    queue is full the subscriber empties it, counts the loss in ``dropped`` and accepts nothing
    until the next keyframe, so a slow viewer loses pictures but never delays the camera or the
    other viewers, and always resumes on a decodable picture.
    """

    def __init__(self, stream_id: str, name: str, maxsize: int = DEFAULT_MAXSIZE) -> None:
        if maxsize < 2:
            raise ValueError("maxsize must be at least 2")
        self.stream_id = stream_id
        self.name = name
        self.maxsize = maxsize
        self._queue: collections.deque[AccessUnit] = collections.deque()
        self._waiter: asyncio.Future[None] | None = None
        self._need_keyframe = True
        self._closed = False
        self._last_warning = 0.0
        self.delivered = 0
        self.dropped = 0
        self.bytes_delivered = 0
        self.created = time.monotonic()

    @property
    def closed(self) -> bool:
        return self._closed

    def qsize(self) -> int:
        return len(self._queue)

    def offer(self, au: AccessUnit) -> None:
        """Enqueue without blocking; drop (and count) instead of growing past ``maxsize``."""
        if self._closed:
            return
        if self._need_keyframe:
            if not au.keyframe:
                self.dropped += 1
                return
            self._need_keyframe = False
        if len(self._queue) >= self.maxsize:
            self.dropped += len(self._queue) + 1
            self._queue.clear()
            self._need_keyframe = not au.keyframe
            self._warn_slow()
            if not au.keyframe:
                return
        self._queue.append(au)
        self._wake()

    def resync(self) -> None:
        """Forget what is queued and wait for the next keyframe (new publisher session)."""
        self.dropped += len(self._queue)
        self._queue.clear()
        self._need_keyframe = True

    async def recv(self) -> AccessUnit:
        """The next access unit; raises :class:`SubscriberClosed` after :meth:`close`."""
        while not self._queue:
            if self._closed:
                raise SubscriberClosed(self.name)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        au = self._queue.popleft()
        self.delivered += 1
        self.bytes_delivered += au.size
        return au

    def close(self) -> None:
        """Stop accepting; a pending :meth:`recv` raises :class:`SubscriberClosed`."""
        self._closed = True
        self._queue.clear()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def _warn_slow(self) -> None:
        now = time.monotonic()
        if now - self._last_warning > 10.0:
            self._last_warning = now
            logger.warning("[%s] subscriber %s too slow: %d access units dropped so far",
                           self.stream_id, self.name, self.dropped)
