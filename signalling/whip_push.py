"""What WHIP needs from the publisher lifecycle of pushed sources, as Protocols.

Implemented by :class:`mediaserver.core.push.PushPublishers` (shared with RTSP and RTMP push):
``claim(source_id, name, takeover=, on_evict=)`` → a session with ``.stream``, ``begin(track)``
(status ``online``), ``publish(au)`` (``streaming`` at the first keyframe; raises a
``ConnectionError`` once the session was evicted or its Stream stopped), ``release(reason)``
(``offline``; the Stream lingers for the grace period so viewers stay attached).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.stream import Stream

#: release reason of a publisher that ended cleanly (not shown as ``last_error``)
CLEAN_REASON = "publisher stopped"
#: release reason of a publisher that ended its session on purpose (WHIP DELETE: the field
#: page's Stop); shown as the source's ``last_error`` so the wall can say so
STOPPED_BY_DEVICE = "stopped by device"


class PushSession(Protocol):
    stream: Stream

    def begin(self, track: VideoTrack) -> None: ...

    def publish(self, au: AccessUnit) -> None: ...

    def release(self, reason: str = CLEAN_REASON) -> None: ...


class PushClaims(Protocol):
    async def claim(self, source_id: str, name: str, *, takeover: bool | None = None,
                    on_evict: Callable[[str], None] | None = None) -> Any: ...
