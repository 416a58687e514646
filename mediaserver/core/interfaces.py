"""Narrow interfaces between the core and the packages that build on it (no dependencies).

The one place each seam is declared: the RTSP server, the WHEP endpoint, the transcoders and
the metrics collectors find streams through :class:`StreamProvider`; access checks and push
claims find source records through :class:`SourceLookup`; WHIP claims pushed sources through
:class:`PushClaims` (the RTSP and RTMP servers hold the same
:class:`~mediaserver.core.push.PushPublishers`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..config.sources import SourceConfig
    from .access_unit import AccessUnit, VideoTrack
    from .stream import Stream

#: release reason of a publisher that ended cleanly (not shown as ``last_error``)
CLEAN_RELEASE = "publisher stopped"
#: release reason of a publisher that ended its session on purpose (WHIP DELETE: the field
#: page's Stop); shown as the source's ``last_error`` so the wall can say so
STOPPED_BY_DEVICE = "stopped by device"


class Publisher(Protocol):
    """Anything that feeds a Stream: RTSP pull, RTSP/RTMP/WHIP push, PyAV source, transcoder.

    ``run`` connects, calls ``stream.begin_session()`` once media is about to flow,
    ``stream.set_track(...)`` and ``stream.publish(au)`` for every access unit, and raises
    (an :class:`~mediaserver.errors.UpstreamError` preferably) when the upstream fails or
    ends. It does not retry: the supervisor in :class:`StreamManager` owns retries.
    """

    async def run(self, stream: Stream) -> None: ...


class StatusSink(Protocol):
    """Receives live state changes of sources (implemented by the registry)."""

    def source_state(self, source_id: str, state: str, **fields: object) -> None: ...


class Subscription(Protocol):
    """What readers use of a :class:`~mediaserver.core.subscriber.Subscriber` (the camera
    farm wraps one to inject jitter and disconnects)."""

    stream_id: str
    dropped: int

    async def recv(self) -> AccessUnit: ...

    def qsize(self) -> int: ...


class StreamProvider(Protocol):
    """Where consumers find streams: :class:`~mediaserver.core.manager.StreamManager`
    implements it (so do the transcoders' profile streams, the camera farm and the tests'
    stand-ins)."""

    async def subscribe(self, source_id: str, name: str, maxsize: int | None = None
                        ) -> Subscription:
        """Attach a reader, starting the source on demand; raises ``SourceNotFound``."""
        ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    def stream(self, source_id: str) -> Stream | None: ...

    def streams(self) -> list[Stream]:
        """Every live stream of this node (for metrics)."""
        ...

    async def wait_ready(self, source_id: str, timeout: float) -> bool:
        """Wait until the source has a keyframe; False on timeout."""
        ...


class SourceLookup(Protocol):
    """Where access checks and push claims find a source record (the registry has it)."""

    async def get(self, source_id: str) -> SourceConfig | None: ...


class PushSession(Protocol):
    """One publisher's hold on a source (:class:`mediaserver.core.push.PushSession`): ``begin``
    (status ``online``), ``publish`` (``streaming`` at the first keyframe; raises a
    ``ConnectionError`` once the session was evicted or its Stream stopped), ``release``
    (``offline``; the Stream lingers for the grace period so viewers stay attached)."""

    stream: Stream

    def begin(self, track: VideoTrack) -> None: ...

    def publish(self, au: AccessUnit) -> None: ...

    def release(self, reason: str = CLEAN_RELEASE) -> None: ...


class PushClaims(Protocol):
    """Where publishers claim a pushed source (:class:`mediaserver.core.push.PushPublishers`)."""

    async def claim(self, source_id: str, name: str, *, takeover: bool | None = None,
                    on_evict: Callable[[str], None] | None = None) -> Any: ...
