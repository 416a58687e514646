"""On-demand lifecycle of this node's streams and the supervisor that restarts publishers.

Per source: ``idle → starting → ready → closing → idle``. A pulled source starts when its first
subscriber arrives (or at once when ``always_on``) and closes ``close_after`` seconds after its
last subscriber leaves. The supervisor, not the protocol code, owns retries: capped, jittered
exponential backoff, reset after a run that stayed up longer than the cap.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..errors import UnsupportedMedia, UpstreamAuthError
from ..redact import scrub
from .interfaces import Publisher, StatusSink
from .stream import Stream
from .subscriber import DEFAULT_MAXSIZE, Subscriber
from .tasks import cancel_and_wait

logger = logging.getLogger(__name__)


class StreamState(enum.Enum):
    STARTING = "starting"
    READY = "ready"
    CLOSING = "closing"


@dataclass(frozen=True, slots=True)
class ManagerSettings:
    close_after: float = 10.0
    backoff_initial: float = 2.0
    backoff_max: float = 60.0
    subscriber_queue: int = DEFAULT_MAXSIZE


#: Resolves a source id to a fresh publisher; raises SourceNotFound for unknown ids and returns
#: None for sources that are pushed (they have no publisher to start).
PublisherFactory = Callable[[str], Awaitable[Publisher | None]]


class _Entry:
    __slots__ = ("stream", "state", "supervisor", "linger", "always_on", "last_error")

    def __init__(self, stream: Stream) -> None:
        self.stream = stream
        self.state = StreamState.STARTING
        self.supervisor: asyncio.Task[None] | None = None
        self.linger: asyncio.TimerHandle | None = None
        self.always_on = False
        self.last_error = ""


class StreamManager:
    """Owns the Streams of this node, their publishers' supervisors and linger timers."""

    def __init__(self, publisher_for: PublisherFactory, status: StatusSink,
                 settings: ManagerSettings | None = None) -> None:
        self._publisher_for = publisher_for
        self._status = status
        self.settings = settings or ManagerSettings()
        self._entries: dict[str, _Entry] = {}
        self._closing_tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- queries ----------------------------------------------------------------------------

    def stream(self, source_id: str) -> Stream | None:
        entry = self._entries.get(source_id)
        return entry.stream if entry else None

    def state(self, source_id: str) -> StreamState | None:
        entry = self._entries.get(source_id)
        return entry.state if entry else None

    def streams(self) -> list[Stream]:
        return [e.stream for e in self._entries.values()]

    # -- subscribers ------------------------------------------------------------------------

    async def subscribe(self, source_id: str, name: str, maxsize: int | None = None
                        ) -> Subscriber:
        """Attach a subscriber, starting the source on demand. Raises SourceNotFound."""
        entry = await self._activate(source_id)
        return entry.stream.subscribe(name, maxsize or self.settings.subscriber_queue)

    def unsubscribe(self, sub: Subscriber) -> None:
        entry = self._entries.get(sub.stream_id)
        if entry is None:
            sub.close()
            return
        entry.stream.unsubscribe(sub)
        if entry.stream.subscriber_count == 0 and not entry.always_on:
            self._schedule_close(sub.stream_id, entry)

    async def wait_ready(self, source_id: str, timeout: float) -> bool:
        """Wait until the source delivers a keyframe; False on timeout or if it is not active."""
        entry = self._entries.get(source_id)
        if entry is None:
            return False
        return await entry.stream.wait_keyframe(timeout)

    async def ensure_started(self, source_id: str, always_on: bool = False) -> Stream:
        """Start a source without a subscriber (always-on sources, pushed sources)."""
        entry = await self._activate(source_id)
        entry.always_on = entry.always_on or always_on
        if entry.stream.subscriber_count == 0 and not entry.always_on:
            self._schedule_close(source_id, entry)
        return entry.stream

    async def stop(self, source_id: str) -> None:
        """Stop a source now (deleted or reconfigured); subscribers are closed."""
        entry = self._entries.pop(source_id, None)
        if entry is not None:
            await self._shutdown(source_id, entry)

    async def restart(self, source_id: str) -> None:
        """Reconnect a source's publisher with fresh configuration, keeping its subscribers."""
        entry = self._entries.get(source_id)
        if entry is None or entry.supervisor is None:
            return
        await cancel_and_wait(entry.supervisor)
        entry.stream.end_session()
        entry.state = StreamState.STARTING
        entry.supervisor = asyncio.create_task(self._supervise(source_id, entry),
                                               name=f"supervise:{source_id}")

    # -- lifecycle --------------------------------------------------------------------------

    async def _activate(self, source_id: str) -> _Entry:
        if self._closed:
            raise RuntimeError("stream manager is closed")
        entry = self._entries.get(source_id)
        if entry is not None:
            if entry.linger is not None:
                entry.linger.cancel()
                entry.linger = None
                entry.state = (StreamState.READY if entry.stream.publishing
                               else StreamState.STARTING)
            return entry
        publisher = await self._publisher_for(source_id)  # raises SourceNotFound
        entry = self._entries.get(source_id)  # another caller may have won the race
        if entry is not None:
            return await self._activate(source_id)
        entry = _Entry(Stream(source_id))
        self._entries[source_id] = entry
        if publisher is not None:
            entry.supervisor = asyncio.create_task(
                self._supervise(source_id, entry, publisher), name=f"supervise:{source_id}")
        logger.info("[%s] activated", source_id)
        return entry

    def _schedule_close(self, source_id: str, entry: _Entry) -> None:
        if entry.linger is not None:
            return
        entry.state = StreamState.CLOSING
        loop = asyncio.get_running_loop()
        entry.linger = loop.call_later(self.settings.close_after, self._close_idle, source_id)

    def _close_idle(self, source_id: str) -> None:
        entry = self._entries.get(source_id)
        if entry is None or entry.stream.subscriber_count or entry.always_on:
            return
        del self._entries[source_id]
        task = asyncio.create_task(self._shutdown(source_id, entry), name=f"close:{source_id}")
        self._closing_tasks.add(task)
        task.add_done_callback(self._closing_tasks.discard)

    async def _shutdown(self, source_id: str, entry: _Entry) -> None:
        if entry.linger is not None:
            entry.linger.cancel()
        was_streaming = entry.stream.publishing
        if entry.supervisor is not None:
            await cancel_and_wait(entry.supervisor)
        entry.stream.close()
        logger.info("[%s] closed", source_id)
        if was_streaming and entry.supervisor is not None:
            # the camera answered until we hung up: it is reachable, just not pulled
            self._status.source_state(source_id, "online")

    async def _supervise(self, source_id: str, entry: _Entry,
                         publisher: Publisher | None = None) -> None:
        delay = self.settings.backoff_initial
        while True:
            started = time.monotonic()
            watcher = asyncio.create_task(self._watch_ready(source_id, entry),
                                          name=f"ready:{source_id}")
            try:
                if publisher is None:
                    publisher = await self._publisher_for(source_id)
                    if publisher is None:
                        return
                await publisher.run(entry.stream)
                raise ConnectionError("upstream ended")
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the supervisor is the catch-all by design
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    # asyncio.wait_for (3.11) can turn our cancellation into the inner error
                    raise asyncio.CancelledError from exc
                entry.last_error = scrub(str(exc) or type(exc).__name__)
                state = "error" if isinstance(exc, UpstreamAuthError | UnsupportedMedia) \
                    else "offline"
                logger.warning("[%s] publisher failed (%s): %s; retry in %.1f s", source_id,
                               type(exc).__name__, entry.last_error, delay)
                self._status.source_state(source_id, state, last_error=entry.last_error)
            finally:
                entry.stream.end_session()
                await cancel_and_wait(watcher)
                publisher = None
            if entry.state is StreamState.READY:
                entry.state = StreamState.STARTING
            if time.monotonic() - started > self.settings.backoff_max:
                delay = self.settings.backoff_initial
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, self.settings.backoff_max)

    async def _watch_ready(self, source_id: str, entry: _Entry) -> None:
        await entry.stream.wait_keyframe(None)
        if entry.state is StreamState.STARTING:
            entry.state = StreamState.READY
        self._status.source_state(source_id, "streaming", **entry.stream.status_fields())

    async def aclose(self) -> None:
        """Stop every source and wait for their supervisors."""
        self._closed = True
        entries, self._entries = self._entries, {}
        await asyncio.gather(*(self._shutdown(sid, e) for sid, e in entries.items()),
                             return_exceptions=True)
        if self._closing_tasks:
            await asyncio.gather(*self._closing_tasks, return_exceptions=True)
