"""Narrow interfaces between the core and the packages that build on it (no dependencies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from .stream import Stream


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
