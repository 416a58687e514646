"""The RTSP methods a reader uses (RFC 2326 §10), as handlers of a connection.

Status codes follow RFC 2326 and the hub's BAD-INPUTS table: an unknown session id (or one
from another connection, or torn down) is 454, a method that the session's state does not allow
(a second SETUP of the track, PLAY or PAUSE without SETUP) is 455, an unusable ``Transport`` is
461 and a ``Range`` other than ``npt`` is 457. ANNOUNCE and RECORD (publishing,
:mod:`rtsp_record`) are 405 on a server without publishers.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from ..core.stream import Stream
from ..protocols.rtsp.errors import RtspError
from ..protocols.rtsp.message import Request, Response
from ..protocols.rtsp.transport import (
    TransportSpec,
    format_range,
    parse_range,
    parse_session,
)
from .rtsp_paths import base_url, parse_uri
from .rtsp_publisher import PublisherSession
from .rtsp_record import RecordHandlers, is_record, parse_specs
from .rtsp_sdp import TRACK_CONTROL, parameter_sets, session_description, supported
from .rtsp_session import ReaderSession, ServerSession, SessionState
from .rtsp_sinks import InterleavedSink, MediaSink, UdpSink

if TYPE_CHECKING:
    from .rtsp_conn import RtspConnection

logger = logging.getLogger(__name__)

PUBLIC = "OPTIONS, DESCRIBE, SETUP, PLAY, PAUSE, TEARDOWN, GET_PARAMETER"
PUBLIC_WITH_RECORD = PUBLIC + ", ANNOUNCE, RECORD"
_PUBLISH_METHODS = frozenset({"ANNOUNCE", "RECORD"})
_PROFILES = frozenset({"RTP/AVP", "RTP/AVP/UDP", "RTP/AVP/TCP"})

Handler = Callable[[Request, int], Awaitable[Response]]


class MethodHandlers(RecordHandlers):
    """Mixed into :class:`~mediaserver.egress.rtsp_conn.RtspConnection`."""

    @property
    def public(self: RtspConnection) -> str:
        return PUBLIC if self.ctx.publishers is None else PUBLIC_WITH_RECORD

    async def dispatch(self: RtspConnection, request: Request, cseq: int) -> Response:
        if request.method in _PUBLISH_METHODS and self.ctx.publishers is not None:
            handler = self._announce if request.method == "ANNOUNCE" else self._record
            return await handler(request, cseq)
        handler: Handler | None = {
            "OPTIONS": self._options,
            "DESCRIBE": self._describe,
            "SETUP": self._setup,
            "PLAY": self._play,
            "PAUSE": self._pause,
            "TEARDOWN": self._teardown,
            "GET_PARAMETER": self._get_parameter,
        }.get(request.method)
        if handler is not None:
            return await handler(request, cseq)
        if request.method in _PUBLISH_METHODS:
            response = self._error(405, cseq, f"{request.method} is not supported here")
            response.headers["Allow"] = self.public
            return response
        return self._error(501, cseq, f"method {request.method[:16]!r} not implemented")

    def _ok(self: RtspConnection, cseq: int, session: ServerSession | None = None,
            body: bytes = b"", **extra: str) -> Response:
        headers = self._common_headers()
        if session is not None:
            timeout = max(1, round(self.ctx.settings.session_timeout))
            headers["Session"] = f"{session.id};timeout={timeout}"
        for name, value in extra.items():
            headers[name.replace("_", "-")] = value
        return Response.make(200, cseq, headers, body)

    async def _options(self: RtspConnection, request: Request, cseq: int) -> Response:
        session = self._session(request, required=False)
        return self._ok(cseq, session, Public=self.public)

    async def _get_parameter(self: RtspConnection, request: Request, cseq: int) -> Response:
        return self._ok(cseq, self._session(request, required=False))

    async def _describe(self: RtspConnection, request: Request, cseq: int) -> Response:
        source_id, _control = parse_uri(request.uri)
        await self._authorize(request, source_id)
        stream = await self._ready_stream(source_id)
        track = stream.track
        assert track is not None
        sets = parameter_sets(track.codec, track.parameter_sets)
        keyframe = stream.latest_keyframe()
        if keyframe is not None:
            for kind, nalu in parameter_sets(track.codec, keyframe.nalus).items():
                sets.setdefault(kind, nalu)
        body = session_description(track, sets, name=source_id, local_address=self.local_host)
        base = base_url(request.uri, source_id, f"{self.local_host}:{self.local_port}")
        headers = self._common_headers()
        headers["Content-Base"] = base
        headers["Content-Type"] = "application/sdp"
        return Response.make(200, cseq, headers, body)

    async def _setup(self: RtspConnection, request: Request, cseq: int) -> Response:
        specs = parse_specs(request.headers.get("Transport"))
        existing = self._session(request, required=False)
        if isinstance(existing, PublisherSession) or (
                existing is None and self.announced is not None and is_record(specs)):
            return await self._setup_record(request, cseq, specs)
        source_id, control = parse_uri(request.uri)
        if existing is not None:
            raise RtspError(455, "the stream's only track is already set up")
        if len(self.sessions) >= self.ctx.settings.max_sessions_per_connection:
            raise RtspError(453, "too many sessions on this connection")
        await self._authorize(request, source_id)
        stream = await self._ready_stream(source_id)
        assert stream.track is not None
        session = ReaderSession(self.ctx, source_id, self, stream.track.codec,
                                self._on_session_end)
        # RTP-Info names the track by the URL the client set it up with (ffmpeg matches it)
        session.control_url = request.uri if control is not None and "://" in request.uri \
            else base_url(request.uri, source_id, f"{self.local_host}:{self.local_port}") \
            + TRACK_CONTROL
        sink, reply = await self._open_sink(specs, session)
        session.sink = sink
        if self.closing:
            sink.close()
            raise ConnectionResetError("connection closed during SETUP")
        self.sessions[session.id] = session
        self.ctx.sessions.add(session)
        self.ctx.stats.sessions_total += 1
        self.ctx.stats.sessions_active += 1
        logger.info("[%s] reader session %s from %s over %s", source_id, session.id,
                    self.peer, reply.profile)
        return self._ok(cseq, session, Transport=reply.format())

    async def _play(self: RtspConnection, request: Request, cseq: int) -> Response:
        session = self._session(request, required=True)
        assert session is not None
        if parse_uri(request.uri)[0] != session.path:
            raise RtspError(400, "PLAY names another stream than the session's")
        value = request.headers.get("Range")
        if value is not None:
            parse_range(value)  # a live stream plays from now whatever npt asks; 457 if bad
        if not isinstance(session, ReaderSession):
            raise RtspError(455, "PLAY is not valid for this session")
        seq, rtptime = await session.play()
        info = f"url={session.control_url};seq={seq}"
        if rtptime is not None:
            info += f";rtptime={rtptime}"
        return self._ok(cseq, session, Range=format_range(now=True), RTP_Info=info)

    async def _pause(self: RtspConnection, request: Request, cseq: int) -> Response:
        session = self._session(request, required=True)
        if not isinstance(session, ReaderSession):
            raise RtspError(455, "PAUSE is not valid for this session")
        await session.pause()
        return self._ok(cseq, session)

    async def _teardown(self: RtspConnection, request: Request, cseq: int) -> Response:
        session = self._session(request, required=True)
        assert session is not None
        del self.sessions[session.id]
        if isinstance(session, PublisherSession):
            session.end_reason = "teardown"
        await self._end_session(session)
        logger.info("[%s] %s session %s torn down", session.path, session.role, session.id)
        headers = self._common_headers()
        return Response.make(200, cseq, headers)

    # -- helpers ----------------------------------------------------------------------------

    def _session(self: RtspConnection, request: Request, *, required: bool
                 ) -> ServerSession | None:
        """The session the request names; 454 if unknown here, 455 if required but absent."""
        value = request.headers.get("Session")
        if value is None:
            if required:
                raise RtspError(455, f"{request.method} without a session (SETUP first)")
            return None
        session_id, _timeout = parse_session(value)
        session = self.sessions.get(session_id)
        if session is None or session.state is SessionState.CLOSED:
            raise RtspError(454, "session not found")
        session.touch()
        return session

    async def _authorize(self: RtspConnection, request: Request, source_id: str,
                         action: str = "read") -> None:
        """Ask the server's hook once per (source, action) and connection: the SETUP control
        URLs derived from Content-Base carry no ``?token=``."""
        if self.ctx.authorize is None or (source_id, action) in self.authorized:
            return
        if not await self.ctx.authorize(request, source_id, action):
            raise RtspError(401, "authorization required")
        self.authorized.add((source_id, action))

    async def _ready_stream(self: RtspConnection, source_id: str) -> Stream:
        """The stream with a track and a keyframe, starting an on-demand source if needed."""
        provider = self.ctx.provider
        stream = provider.stream(source_id)
        if stream is None or stream.track is None or not stream.gop():
            sub = await provider.subscribe(source_id, f"rtsp-describe:{self.peer}")
            try:
                ready = await provider.wait_ready(source_id, self.ctx.settings.describe_timeout)
            finally:
                provider.unsubscribe(sub)
            stream = provider.stream(source_id)
            if not ready or stream is None or stream.track is None:
                raise RtspError(503, "source not ready")
        if not supported(stream.track.codec):
            raise RtspError(415, f"codec {stream.track.codec} cannot be served over RTSP")
        return stream

    async def _open_sink(self: RtspConnection, specs: list[TransportSpec],
                         session: ReaderSession) -> tuple[MediaSink, TransportSpec]:
        settings = self.ctx.settings
        for spec in specs:
            if spec.profile.upper() not in _PROFILES or spec.cast == "multicast":
                continue
            if spec.mode not in (None, "PLAY"):
                continue
            if spec.protocol == "TCP":
                channels = spec.interleaved or self._free_channels()
                if self._channels_in_use(channels):
                    raise RtspError(461, f"interleaved channels {channels} already in use")
                sink: MediaSink = InterleavedSink(
                    self.writer, channels[0], channels[1], high_water=settings.write_high_water,
                    stall_timeout=settings.session_timeout)
                return sink, TransportSpec("RTP/AVP/TCP", "unicast", interleaved=channels,
                                           ssrc=session.ssrc)
            if spec.client_port is None or (spec.destination not in (None, self.peer_host)):
                continue  # never send media to an address other than the client's own
            udp = await UdpSink.open(
                self.local_host, self.peer_host, spec.client_port,
                high_water=settings.write_high_water,
                on_rtcp=lambda data, addr, s=session: self._on_udp_rtcp(s, addr))
            return udp, TransportSpec("RTP/AVP", "unicast", client_port=spec.client_port,
                                      server_port=udp.server_ports, ssrc=session.ssrc)
        raise RtspError(461, "no supported transport offered")

    def _free_channels(self: RtspConnection) -> tuple[int, int]:
        for first in range(0, 255, 2):
            if not self._channels_in_use((first, first + 1)):
                return first, first + 1
        raise RtspError(461, "no free interleaved channels")

    def _channels_in_use(self: RtspConnection, channels: tuple[int, int]) -> bool:
        return any(s.owns_channel(c) for s in self.sessions.values() for c in channels)

    def _on_udp_rtcp(self: RtspConnection, session: ReaderSession, addr: tuple) -> None:
        if addr[0] != self.peer_host:
            self.ctx.stats.frames_ignored += 1  # foreign sender: not a keep-alive
            return
        session.touch()
        self.ctx.stats.rtcp_in += 1

    def _on_session_end(self: RtspConnection, session: ReaderSession, reason: str) -> None:
        """The sender stopped by itself (source gone, reader stalled): hang up."""
        logger.info("[%s] reader session %s ended: %s", session.path, session.id, reason)
        if not self.closing:
            self.close(abort=True)

