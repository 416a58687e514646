"""Publisher lifecycle of pushed sources (RTSP ANNOUNCE/RECORD, RTMP publish, WHIP).

A protocol session that wants to feed a source asks :class:`PushPublishers` for it::

    session = await publishers.claim(source_id, "rtmp:10.1.2.3:50412", on_evict=hang_up)
    session.begin(track)          # media is about to flow: state "online"
    session.publish(au)           # each access unit; first keyframe: state "streaming"
    session.release("teardown")   # the publisher stopped: state "offline"

Rules (ARCHITECTURE §3, issue 5):

- Only a source declared ``publish: true`` accepts a publisher (:class:`PublishNotAllowed`,
  403); authorization (a device token for its own source, or admin) is the caller's job and
  happens before :meth:`PushPublishers.claim`.
- One publisher at a time: a second claim raises :class:`PublisherBusy` (409), unless
  takeover is allowed, in which case the old session is evicted (its ``on_evict`` callback
  hangs its connection up) and the new one continues the same Stream.
- Status (the contract's states): ``online`` when a publisher has connected and announced its
  track (:meth:`PushSession.begin`), ``streaming`` once its first keyframe is in the Stream
  (viewers can watch), ``offline`` when it stops, is evicted for silence (no media for
  ``silence_timeout`` seconds, counted from the claim) or the server shuts down.
- Flaky links: the Stream of a released source is kept for ``grace_period`` seconds. A
  publisher that reconnects within it continues the same Stream, so WHEP viewers and RTSP
  readers stay attached and resume at its first keyframe (``Stream.begin_session`` resyncs
  them). After the grace period the Stream is stopped and its subscribers end.

While a publisher is attached or in its grace period the Stream is held with
``StreamManager.ensure_started(source_id, always_on=True)``; at the end of the grace period
``StreamManager.stop`` drops it. If the Stream is stopped from elsewhere (the source was
deleted or reconfigured), the next :meth:`PushSession.publish` raises
:class:`PushSessionClosed` and the protocol side hangs up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from ..errors import PublisherBusy, PublishNotAllowed, PushSessionClosed, SourceNotFound
from .access_unit import AccessUnit, VideoTrack
from .interfaces import CLEAN_RELEASE, SourceLookup, StatusSink
from .manager import StreamManager
from .stream import Stream

logger = logging.getLogger(__name__)


#: Called with a reason when the hub ends a session itself (takeover, silence, source stopped,
#: shutdown): the protocol side closes its connection. Must not block.
EvictCallback = Callable[[str], None]


class PushSession:
    """One publisher's hold on one source's Stream."""

    def __init__(self, owner: PushPublishers, source_id: str, name: str, stream: Stream,
                 on_evict: EvictCallback | None) -> None:
        self._owner = owner
        self.source_id = source_id
        self.name = name
        self.stream = stream
        self._on_evict = on_evict
        self.claimed_at = time.monotonic()
        #: monotonic time of the last access unit (the claim time until the first one)
        self.last_media = self.claimed_at
        self.began = False
        self.streaming = False
        self.closed = False
        self.close_reason = ""
        self.track: VideoTrack | None = None
        self.access_units = 0
        self.bytes = 0

    def begin(self, track: VideoTrack) -> None:
        """Media is about to flow: start a Stream session (viewers resync at the next
        keyframe) and report ``online``."""
        self._check()
        self.stream.begin_session()
        self.began = True
        self.last_media = time.monotonic()
        self.set_track(track)
        self._owner._report(self.source_id, "online", last_error="")  # noqa: SLF001

    def set_track(self, track: VideoTrack) -> None:
        """New or changed track parameters (an SPS change, an RTMP sequence header)."""
        self._check()
        self.track = track
        self.stream.set_track(track)

    def publish(self, au: AccessUnit) -> None:
        """Fan one access unit out; raises :class:`PushSessionClosed` once the session ended
        (evicted, released, or its Stream was stopped elsewhere)."""
        self._check()
        if not self.began:
            raise PushSessionClosed("publish() before begin()")
        self.last_media = time.monotonic()
        self.access_units += 1
        self.bytes += au.size
        self.stream.publish(au)
        if not self.streaming and au.keyframe:
            self.streaming = True
            self._owner._report(self.source_id, "streaming",  # noqa: SLF001
                                **self.stream.status_fields())

    def release(self, reason: str = CLEAN_RELEASE) -> None:
        """The publisher stopped (idempotent): ``offline``; the Stream lingers for the grace
        period."""
        if self.closed:
            return
        self._close(reason)
        self._owner._released(self, reason)  # noqa: SLF001

    def evict(self, reason: str) -> None:
        """End the session from the hub's side and ask the protocol to hang up."""
        if self.closed:
            return
        logger.info("[%s] publisher %s evicted: %s", self.source_id, self.name, reason)
        self.release(reason)
        self._notify(reason)

    def _close(self, reason: str) -> None:
        self.closed = True
        self.close_reason = reason
        if self.began:
            self.stream.end_session()

    def _notify(self, reason: str) -> None:
        if self._on_evict is not None:
            try:
                self._on_evict(reason)
            except Exception:  # noqa: BLE001 - a broken callback must not stop the eviction
                logger.exception("[%s] eviction callback of %s failed", self.source_id,
                                 self.name)

    def _check(self) -> None:
        if self.closed:
            raise PushSessionClosed(self.close_reason or "publisher session closed")
        if self._owner.manager.stream(self.source_id) is not self.stream:
            self.evict("source stopped")
            raise PushSessionClosed("source stopped")

    def __repr__(self) -> str:
        return f"PushSession({self.source_id}, {self.name}, closed={self.closed})"


class PushStats:
    """Counters for metrics (monotonic)."""

    __slots__ = ("claims", "busy", "not_allowed", "takeovers", "silences", "resumed",
                 "expired")

    def __init__(self) -> None:
        self.claims = 0
        self.busy = 0
        self.not_allowed = 0
        self.takeovers = 0
        self.silences = 0
        #: claims that continued a Stream within the grace period
        self.resumed = 0
        #: grace periods that ended without a publisher (the Stream was stopped)
        self.expired = 0

    def as_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__slots__}


class PushPublishers:
    """Claims, takeover, silence detection and grace periods of pushed sources."""

    def __init__(self, manager: StreamManager, status: StatusSink, sources: SourceLookup, *,
                 grace_period: float = 30.0, silence_timeout: float = 10.0,
                 takeover: bool = False) -> None:
        self.manager = manager
        self._status = status
        self._sources = sources
        self.grace_period = grace_period
        self.silence_timeout = silence_timeout
        self.takeover = takeover
        self.stats = PushStats()
        self._active: dict[str, PushSession] = {}
        #: source id -> (kept Stream, grace timer)
        self._lingering: dict[str, tuple[Stream, asyncio.TimerHandle]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._watchdog: asyncio.Task[None] | None = None
        self._closed = False

    # -- queries ----------------------------------------------------------------------------

    def session(self, source_id: str) -> PushSession | None:
        return self._active.get(source_id)

    def sessions(self) -> list[PushSession]:
        return list(self._active.values())

    def lingering(self, source_id: str) -> bool:
        return source_id in self._lingering

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self._watchdog = asyncio.create_task(self._watch_silence(), name="push-silence")

    async def aclose(self) -> None:
        """Evict every publisher, drop every grace timer, wait for pending stops."""
        self._closed = True
        for session in list(self._active.values()):
            session.evict("server shutting down")
        for _stream, timer in self._lingering.values():
            timer.cancel()
        self._lingering.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            await asyncio.gather(self._watchdog, return_exceptions=True)
            self._watchdog = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- claims -----------------------------------------------------------------------------

    async def claim(self, source_id: str, name: str, *, takeover: bool | None = None,
                    on_evict: EvictCallback | None = None) -> PushSession:
        """Become the publisher of ``source_id``.

        Raises ``SourceNotFound``, :class:`PublishNotAllowed` (not a ``publish: true``
        source), :class:`PublisherBusy` (another publisher is active and takeover is not
        allowed; ``takeover=None`` uses the configured policy).
        """
        if self._closed:
            raise PushSessionClosed("server shutting down")
        source = await self._sources.get(source_id)
        if source is None:
            raise SourceNotFound(source_id)
        if not source.publish:
            self.stats.not_allowed += 1
            raise PublishNotAllowed(f"source {source_id} does not accept publishers "
                                    "(publish: false)")
        takeover = self.takeover if takeover is None else takeover
        current = self._active.get(source_id)
        if current is not None and not takeover:
            self.stats.busy += 1
            raise PublisherBusy(f"source {source_id} already has a publisher")
        stream = await self.manager.ensure_started(source_id, always_on=True)
        if self._closed:
            raise PushSessionClosed("server shutting down")
        # re-check after the awaits: another claim may have won meanwhile
        current = self._active.get(source_id)
        if current is not None:
            if not takeover:
                self.stats.busy += 1
                raise PublisherBusy(f"source {source_id} already has a publisher")
            self.stats.takeovers += 1
            logger.info("[%s] publisher %s takes over from %s", source_id, name, current.name)
            del self._active[source_id]  # so that its release() leaves no grace timer
            current._close("taken over by another publisher")  # noqa: SLF001
            current._notify("taken over by another publisher")  # noqa: SLF001
        lingering = self._lingering.pop(source_id, None)
        if lingering is not None:
            lingering[1].cancel()
            if lingering[0] is stream:
                self.stats.resumed += 1
                logger.info("[%s] publisher %s resumes within the grace period", source_id,
                            name)
        session = PushSession(self, source_id, name, stream, on_evict)
        self._active[source_id] = session
        self.stats.claims += 1
        logger.info("[%s] publisher %s claimed the source", source_id, name)
        return session

    # -- internals --------------------------------------------------------------------------

    def _report(self, source_id: str, state: str, **fields: object) -> None:
        self._status.source_state(source_id, state, **fields)

    def _released(self, session: PushSession, reason: str) -> None:
        source_id = session.source_id
        if self._active.get(source_id) is not session:
            return  # taken over: the new publisher owns the Stream now
        del self._active[source_id]
        logger.info("[%s] publisher %s left: %s", source_id, session.name, reason)
        self._report(source_id, "offline", last_error="" if reason in _CLEAN else reason)
        if self._closed or self.manager.stream(source_id) is not session.stream:
            return
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.grace_period, self._grace_over, source_id)
        self._lingering[source_id] = (session.stream, timer)

    def _grace_over(self, source_id: str) -> None:
        lingering = self._lingering.pop(source_id, None)
        if lingering is None or source_id in self._active:
            return
        if self.manager.stream(source_id) is not lingering[0]:
            return
        self.stats.expired += 1
        logger.info("[%s] no publisher within the %.0f s grace period: stream stopped",
                    source_id, self.grace_period)
        task = asyncio.create_task(self.manager.stop(source_id), name=f"push-stop:{source_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _watch_silence(self) -> None:
        tick = max(0.05, min(1.0, self.silence_timeout / 4))
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for session in list(self._active.values()):
                if now - session.last_media > self.silence_timeout:
                    self.stats.silences += 1
                    session.evict(f"no media for {self.silence_timeout:g} s")


#: release reasons that are not errors (kept out of ``last_error``)
_CLEAN = frozenset({CLEAN_RELEASE, "teardown", "unpublished", "server shutting down",
                    "taken over by another publisher"})
