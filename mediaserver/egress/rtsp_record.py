"""The RTSP methods a publisher uses: ANNOUNCE, SETUP with ``mode=record``, RECORD.

``ANNOUNCE rtsp://host:8554/{source_id}?token=...`` with an ``application/sdp`` body claims the
source (``publish`` authorization first: a device token for that source, or admin), SETUP binds
each announced track to interleaved channels over TCP (UDP publishing answers 461, and ffmpeg
retries over TCP), RECORD starts the media. Errors: 401/403/404 from authorization, 403 for a
source that is not ``publish: true``, 409 when another publisher is active, 415 without
H.264/H.265 video, 455 for a method the session's state does not allow (a second ANNOUNCE,
SETUP after RECORD, RECORD before SETUP, PLAY or PAUSE on a publisher session).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..core.push import PublisherBusy
from ..protocols.rtsp.errors import RtspError, SdpError
from ..protocols.rtsp.media import find_video_format
from ..protocols.rtsp.message import Request, Response
from ..protocols.rtsp.transport import TransportSpec, parse_transport
from ..protocols.sdp import SessionDescription
from .rtsp_paths import parse_uri
from .rtsp_publisher import PublisherSession, match_track

if TYPE_CHECKING:
    from .rtsp_conn import RtspConnection

logger = logging.getLogger(__name__)

_TCP_PROFILES = frozenset({"RTP/AVP/TCP"})


class RecordHandlers:
    """Mixed into :class:`~mediaserver.egress.rtsp_conn.RtspConnection`."""

    async def _announce(self: RtspConnection, request: Request, cseq: int) -> Response:
        source_id, control = parse_uri(request.uri)
        if control is not None:
            raise RtspError(400, "ANNOUNCE names a track, not a stream")
        if self.announced is not None or any(isinstance(s, PublisherSession)
                                             for s in self.sessions.values()):
            raise RtspError(455, "this connection already publishes")
        await self._authorize(request, source_id, "publish")
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip()
        if content_type.lower() != "application/sdp":
            raise RtspError(415, "ANNOUNCE needs an application/sdp body")
        try:
            sdp = SessionDescription.parse(request.body.decode("utf-8"))
        except UnicodeDecodeError:
            raise RtspError(400, "SDP is not UTF-8") from None
        except SdpError as exc:
            raise RtspError(400, f"bad SDP: {exc}") from None
        fmt = find_video_format(sdp)
        if fmt is None:
            raise RtspError(415, "no H.264/H.265 video track announced")
        publishers = self.ctx.publishers
        assert publishers is not None
        try:
            push = await publishers.claim(source_id, f"rtsp:{self.peer}",
                                          on_evict=self._evicted)
        except PublisherBusy as exc:
            raise RtspError(409, str(exc)) from None
        if self.closing:
            push.release("connection closed")
            raise ConnectionResetError("connection closed during ANNOUNCE")
        self.announced = PublisherSession(self.ctx, source_id, self, push, sdp, fmt)
        logger.info("[%s] announced by %s: %s %sx%s", source_id, self.peer, fmt.codec,
                    fmt.width, fmt.height)
        return self._ok(cseq)

    async def _setup_record(self: RtspConnection, request: Request, cseq: int,
                            specs: list[TransportSpec]) -> Response:
        session = self._session(request, required=False)
        if session is None:
            session = self.announced
        if not isinstance(session, PublisherSession):
            raise RtspError(455, "SETUP for recording without ANNOUNCE")
        if stream_of(request.uri) != session.path:
            raise RtspError(400, "SETUP names another stream than the announced one")
        index = match_track(request.uri, session.sdp)
        channels = self._record_channels(specs)
        session.setup_track(index, channels)
        if session is self.announced:
            self.announced = None
            self.sessions[session.id] = session
            self.ctx.sessions.add(session)
            self.ctx.stats.sessions_total += 1
            self.ctx.stats.sessions_active += 1
            self.ctx.stats.publish_sessions_total += 1
        reply = TransportSpec("RTP/AVP/TCP", "unicast", interleaved=channels, mode="RECORD")
        return self._ok(cseq, session, Transport=reply.format())

    def _record_channels(self: RtspConnection, specs: list[TransportSpec]) -> tuple[int, int]:
        for spec in specs:
            if spec.profile.upper() not in _TCP_PROFILES or spec.cast == "multicast":
                continue
            channels = spec.interleaved or self._free_channels()
            if self._channels_in_use(channels):
                raise RtspError(461, f"interleaved channels {channels} already in use")
            return channels
        raise RtspError(461, "publishing needs RTP/AVP/TCP interleaved transport")

    async def _record(self: RtspConnection, request: Request, cseq: int) -> Response:
        session = self._session(request, required=True)
        if not isinstance(session, PublisherSession):
            raise RtspError(455, "RECORD is not valid for this session")
        if parse_uri(request.uri)[0] != session.path:
            raise RtspError(400, "RECORD names another stream than the session's")
        session.record()
        return self._ok(cseq, session)

    def _evicted(self: RtspConnection, reason: str) -> None:
        """The hub ended this connection's publisher session (takeover, silence, shutdown)."""
        logger.info("[%s] publisher connection closed by the hub: %s", self.peer, reason)
        self.close()


def stream_of(uri: str) -> str:
    """The source id of a publisher's SETUP URI, whose track control may be anything the
    announced SDP said (``streamid=0``, ``track1``...)."""
    segments = [s for s in urlsplit(uri).path.split("/") if s]
    if not segments:
        raise RtspError(404, "no stream in request URI")
    return parse_uri(f"rtsp://host/{segments[0]}")[0]


def is_record(specs: list[TransportSpec]) -> bool:
    return any((spec.mode or "").upper() == "RECORD" for spec in specs)


def parse_specs(value: str | None) -> list[TransportSpec]:
    if not value:
        raise RtspError(461, "missing Transport header")
    return parse_transport(value)
