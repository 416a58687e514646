"""WHEP (RFC 9725 shape) viewing endpoint: aiohttp handlers and the session registry.

Routes (see :meth:`WhepEndpoint.add_routes`):

- ``POST /whep/{source_id}`` with an ``application/sdp`` offer → ``201`` + SDP answer (complete,
  non-trickle: the answer carries every candidate), ``Location: /whep/sessions/{id}``, ``ETag``,
  ``Link: <url>; rel="ice-server"`` per configured ICE server.
- ``DELETE /whep/sessions/{id}`` → ``200``; the session URL is the capability (128-bit CSPRNG id),
  so hanging up needs no token (an expired token must not keep a viewer connected).
- ``PATCH /whep/sessions/{id}`` with ``application/trickle-ice-sdpfrag`` → ``204``: trickled
  candidates and end-of-candidates are accepted; an ICE restart (new ufrag) answers ``422``;
  an ``If-Match`` other than ``*`` or the session's ETag answers ``412``.
- ``OPTIONS`` on both: CORS preflight.

Checks on POST, in order, all before any RTCPeerConnection exists: source id syntax (400),
content type (415), body size (413), ``access(request, source_id, "view")`` (401/403/404),
session cap (503), offer SDP (400; 422 without usable H.264 video), subscribe (404), first
keyframe within ``ready_timeout`` (504), source codec (406 unless H.264 or a transcoder is
configured).

Transcoding (with ``transcoders``): ``?profile=sub`` subscribes to the shared transcoder's
derived stream ``{source_id}~sub`` (400 unknown profile, 503 node at its transcoder cap); a
source that turns out not to be H.264 (H.265, VP8 from WHIP) moves the viewer to
``{source_id}~{passthrough_profile}``. See :mod:`mediaserver.transcode.manager`.

Audio: a viewer whose offer has an audio m-line gets an Opus track when the source has Opus
from a WHIP publisher on this node (relayed as packets), or AAC on its Stream's audio
side-channel (RTSP/RTMP push) and ``audio_transcoders`` is set: the source's shared AAC→Opus
transcoder (:mod:`mediaserver.transcode.audio`) runs while such viewers watch.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import asdict, dataclass
from typing import Protocol

from aiohttp import web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import OperationError
from multidict import CIMultiDict

from mediaserver.config.media import WebRtcConfig
from mediaserver.core.stream import Stream
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SourceNotFound
from mediaserver.redact import scrub
from mediaserver.transcode.audio import AudioTranscoders
from mediaserver.transcode.manager import ProfileStreams, TranscodeRefused, Transcoders

from .http_session import (
    MAX_PATCH_BYTES,
    AccessCheck,
    HttpError,
    apply_sdpfrag,
    authorize,
    cors_headers,
    error_response,
    read_body,
    read_offer,
)
from .peer import (
    OfferError,
    PeerFactory,
    check_offer,
    h264_preferences,
    sps_profile_level_id,
)
from .session import WhepSession
from .tracks import PacketVideoTrack
from .whip_audio import AudioRelay, add_audio_track

logger = logging.getLogger(__name__)

NEGOTIATION_TIMEOUT = 15.0
_SOURCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class StreamProvider(Protocol):
    """What the endpoint needs from the stream manager (``StreamManager`` implements it)."""

    async def subscribe(self, source_id: str, name: str) -> Subscriber: ...

    def unsubscribe(self, sub: Subscriber) -> None: ...

    async def wait_ready(self, source_id: str, timeout: float) -> bool: ...

    def stream(self, source_id: str) -> Stream | None: ...


@dataclass(slots=True)
class WhepCounters:
    """Monotonic counters for metrics."""

    requests_rejected: int = 0  # POSTs answered with an error status
    peer_connections_created: int = 0
    negotiations_failed: int = 0  # peer connection created, no answer produced
    sessions_opened: int = 0
    sessions_closed: int = 0
    sessions_failed: int = 0  # closed without connecting, or with ICE/DTLS failure
    packets_sent: int = 0  # RTP totals of closed sessions (add live sessions' for a gauge)
    bytes_sent: int = 0


_HttpError = HttpError


class _NeedsTranscoder(Exception):
    """The source is not H.264: the viewer is moved to the transcoded stream."""


class WhepEndpoint:
    """Serves WHEP viewers of the node's streams, relaying H.264 as packets (no transcoding)."""

    def __init__(self, streams: StreamProvider, access: AccessCheck, webrtc: WebRtcConfig, *,
                 ready_timeout: float = 10.0, cors_origins: tuple[str, ...] = ("*",),
                 shutdown_timeout: float = 10.0, transcoders: Transcoders | None = None,
                 audio: AudioRelay | None = None,
                 audio_transcoders: AudioTranscoders | None = None) -> None:
        self._audio = audio
        self._audio_transcoders = audio_transcoders
        self._transcoders = transcoders
        self._streams: StreamProvider = (ProfileStreams(streams, transcoders)  # type: ignore
                                         if transcoders is not None else streams)
        self._access = access
        self._webrtc = webrtc
        self._peers = PeerFactory(webrtc)
        self._ready_timeout = ready_timeout
        self._connect_timeout = webrtc.connect_timeout
        self._shutdown_timeout = shutdown_timeout
        self._cors_origins = tuple(cors_origins)
        self._sessions: dict[str, WhepSession] = {}
        self._pending = 0
        self._closing = False
        self.counters = WhepCounters()

    # -- wiring and metrics ---------------------------------------------------------------

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("POST", "/whep/{source_id}", self._post)
        app.router.add_route("OPTIONS", "/whep/{source_id}", self._options_endpoint)
        app.router.add_route("DELETE", "/whep/sessions/{session_id}", self._delete)
        app.router.add_route("PATCH", "/whep/sessions/{session_id}", self._patch)
        app.router.add_route("OPTIONS", "/whep/sessions/{session_id}", self._options_session)

    def sessions_count(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[dict[str, object]]:
        """Per-session counters (frames, packets, bytes sent, drops); see :meth:`refresh_stats`."""
        return [s.info() for s in self._sessions.values()]

    async def refresh_stats(self) -> None:
        """Pull aiortc's packet/byte counters into every live session (call before scraping)."""
        await asyncio.gather(*(s.refresh_stats() for s in tuple(self._sessions.values())))

    def metrics(self) -> dict[str, int]:
        return {**asdict(self.counters), "sessions": len(self._sessions),
                "pending": self._pending}

    async def aclose(self) -> None:
        """Stop accepting, end every session (bounded wait), then cancel any that overran."""
        self._closing = True
        sessions = tuple(self._sessions.values())
        for session in sessions:
            session.end("server shutting down")
        if not sessions:
            return
        waits = [asyncio.ensure_future(s.wait_closed()) for s in sessions]
        done, pending = await asyncio.wait(waits, timeout=self._shutdown_timeout)
        for fut in pending:
            fut.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(s.cancel() for s in sessions), return_exceptions=True)
        for fut in done:
            if not fut.cancelled() and fut.exception() is not None:
                logger.warning("whep session teardown failed: %r", fut.exception())

    # -- handlers -------------------------------------------------------------------------

    async def _post(self, request: web.Request) -> web.StreamResponse:
        source_id = request.match_info["source_id"]
        shown = source_id if _SOURCE_ID.fullmatch(source_id) else "?"
        try:
            return await self._open(request, source_id)
        except _HttpError as err:
            self.counters.requests_rejected += 1
            logger.info("[%s] whep offer rejected: %d %s", shown, err.status, err)
            return self._error(request, err)
        except Exception:
            self.counters.requests_rejected += 1
            logger.exception("[%s] whep offer failed", shown)
            return self._error(request, _HttpError(500, "internal error"))

    async def _open(self, request: web.Request, source_id: str) -> web.StreamResponse:
        if self._closing:
            raise _HttpError(503, "server is shutting down")
        if not _SOURCE_ID.fullmatch(source_id):
            raise _HttpError(400, "invalid source id")
        body = await read_offer(request)
        principal = await authorize(self._access, request, source_id, "view")
        key = self._stream_key(source_id, request.query.get("profile") or None)
        if len(self._sessions) + self._pending >= self._webrtc.max_sessions:
            raise _HttpError(503, "too many WebRTC sessions on this node", {"Retry-After": "5"})
        try:
            offer_sdp = body.decode("utf-8")
            offer = check_offer(offer_sdp)
        except UnicodeDecodeError:
            raise _HttpError(400, "offer is not UTF-8 text") from None
        except OfferError as exc:
            raise _HttpError(exc.status, str(exc)) from None

        session_id = secrets.token_urlsafe(16)
        self._pending += 1
        try:
            sub = await self._subscribe(key, session_id)
            try:
                pc, sender, track, answer = await self._prepare(source_id, sub, offer_sdp)
            except _NeedsTranscoder:
                self._streams.unsubscribe(sub)
                sub = await self._subscribe(self._stream_key(source_id, None, fallback=True),
                                            session_id)
                try:
                    pc, sender, track, answer = await self._prepare(source_id, sub, offer_sdp)
                except BaseException:
                    self._streams.unsubscribe(sub)
                    raise
            except BaseException:
                self._streams.unsubscribe(sub)
                raise
        finally:
            self._pending -= 1

        session = WhepSession(session_id, source_id, pc, sender, sub, track,
                              release=self._streams.unsubscribe, on_closed=self._closed,
                              ice_ufrag=offer.ice_ufrag, principal=principal)
        self._sessions[session_id] = session
        self.counters.sessions_opened += 1
        session.start(self._connect_timeout)
        logger.info("[%s] whep %s opened (%d sessions on node)", source_id, session.log_id,
                    len(self._sessions))
        headers = CIMultiDict(self._cors(request))
        headers["Location"] = f"/whep/sessions/{session_id}"
        headers["ETag"] = session.etag
        for link in self._peers.link_headers():
            headers.add("Link", link)
        return web.Response(status=201, text=answer, content_type="application/sdp",
                            headers=headers)

    def _stream_key(self, source_id: str, profile: str | None, fallback: bool = False) -> str:
        """``source_id``, or the derived id of its transcoded stream (``cam1~sub``)."""
        if profile is None and not fallback:
            return source_id
        if self._transcoders is None:
            raise _HttpError(400, "transcoding is not available on this node")
        try:
            return (self._transcoders.fallback_key(source_id) if fallback
                    else self._transcoders.key(source_id, profile))
        except TranscodeRefused as exc:
            raise _HttpError(exc.status, str(exc)) from None

    async def _subscribe(self, key: str, session_id: str) -> Subscriber:
        try:
            return await self._streams.subscribe(key, f"whep:{session_id[:6]}")
        except SourceNotFound:
            raise _HttpError(404, "no such source") from None
        except TranscodeRefused as exc:
            raise _HttpError(exc.status, str(exc), {"Retry-After": "5"}) from None

    async def _prepare(self, source_id: str, sub: Subscriber, offer: str
                       ) -> tuple[RTCPeerConnection, object, PacketVideoTrack, str]:
        key = sub.stream_id
        if not await self._streams.wait_ready(key, self._ready_timeout):
            raise _HttpError(504, f"source {source_id} did not deliver video within "
                             f"{self._ready_timeout:g} s (camera offline or unreachable)")
        codec, sps = self._source_codec(key)
        if codec != "h264":
            if self._transcoders is not None and key == source_id:
                raise _NeedsTranscoder(codec)
            raise _HttpError(406, f"source codec {codec} needs a transcoder profile")
        track = PacketVideoTrack(sub, catch_up_bitrate=self._webrtc.catch_up_bitrate)
        pc = self._peers.create()
        self.counters.peer_connections_created += 1
        try:
            async with asyncio.timeout(NEGOTIATION_TIMEOUT):
                transceiver = pc.addTransceiver(track, direction="sendonly")
                profile = sps_profile_level_id(sps) if sps else None
                transceiver.setCodecPreferences(h264_preferences(profile))
                self._add_audio(pc, source_id, offer)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                self._peers.prepare_gathering(pc)
                await pc.setLocalDescription(await pc.createAnswer())
            if self._closing:
                raise _HttpError(503, "server is shutting down")
            return pc, transceiver.sender, track, pc.localDescription.sdp
        except BaseException as exc:
            self.counters.negotiations_failed += 1
            await pc.close()
            if isinstance(exc, _HttpError | asyncio.CancelledError):
                raise
            if isinstance(exc, TimeoutError):
                raise _HttpError(500, "WebRTC negotiation timed out") from None
            if isinstance(exc, Exception):
                reason = scrub(str(exc)) or type(exc).__name__
                logger.warning("[%s] whep negotiation failed: %s", source_id, reason)
                status = 422 if isinstance(exc, OperationError) else 400
                raise _HttpError(status, f"cannot answer this offer: {reason}") from None
            raise

    def _add_audio(self, pc: RTCPeerConnection, source_id: str, offer: str) -> None:
        """Opus for a viewer that offers audio (see :func:`.whip_audio.add_audio_track`)."""
        if self._audio is not None and "m=audio" in offer:
            add_audio_track(pc, self._audio, source_id, self._streams.stream(source_id),
                            self._audio_transcoders)

    def _source_codec(self, source_id: str) -> tuple[str, bytes | None]:
        """The source's codec and H.264 SPS (track parameters, else the cached keyframe)."""
        stream = self._streams.stream(source_id)
        if stream is None:
            raise _HttpError(504, f"source {source_id} stopped before video arrived")
        track, gop = stream.track, stream.gop()
        codec = track.codec if track is not None else (gop[0].codec if gop else "h264")
        candidates = list(track.parameter_sets if track else ()) + list(gop[0].nalus if gop
                                                                         else ())
        sps = next((n for n in candidates if n and n[0] & 0x1F == 7), None)
        return codec, sps if codec == "h264" else None

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        session = self._sessions.get(request.match_info["session_id"])
        if session is None:
            return self._error(request, _HttpError(404, "no such session"))
        session.end("deleted by viewer")
        try:
            async with asyncio.timeout(self._shutdown_timeout):
                await session.wait_closed()
        except TimeoutError:
            logger.warning("[%s] whep %s: teardown still running", session.source_id,
                           session.log_id)
        return web.Response(status=200, headers=self._cors(request))

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        try:
            session = self._sessions.get(request.match_info["session_id"])
            if session is None:
                raise _HttpError(404, "no such session")
            if request.content_type != "application/trickle-ice-sdpfrag":
                raise _HttpError(415, "PATCH must be Content-Type: "
                                 "application/trickle-ice-sdpfrag",
                                 {"Accept-Patch": "application/trickle-ice-sdpfrag"})
            if_match = request.headers.get("If-Match")
            if if_match is not None and if_match.strip() not in ("*", session.etag):
                raise _HttpError(412, "ETag does not match this session")
            body = await read_body(request, MAX_PATCH_BYTES)
            try:
                await apply_sdpfrag(session.pc, session.ice_ufrag, body.decode("utf-8"))
            except UnicodeDecodeError:
                raise _HttpError(400, "sdpfrag is not UTF-8 text") from None
        except _HttpError as err:
            return self._error(request, err)
        return web.Response(status=204, headers=self._cors(request))

    async def _options_endpoint(self, request: web.Request) -> web.StreamResponse:
        headers = self._cors(request, methods="POST, OPTIONS")
        headers["Accept-Post"] = "application/sdp"
        return web.Response(status=204, headers=headers)

    async def _options_session(self, request: web.Request) -> web.StreamResponse:
        headers = self._cors(request, methods="PATCH, DELETE, OPTIONS")
        headers["Accept-Patch"] = "application/trickle-ice-sdpfrag"
        return web.Response(status=204, headers=headers)

    # -- helpers --------------------------------------------------------------------------

    def _closed(self, session: WhepSession) -> None:
        self._sessions.pop(session.id, None)
        self.counters.sessions_closed += 1
        self.counters.sessions_failed += session.failed
        self.counters.packets_sent += session.packets_sent
        self.counters.bytes_sent += session.bytes_sent

    def _cors(self, request: web.Request, methods: str = "POST, PATCH, DELETE, OPTIONS"
              ) -> dict[str, str]:
        return cors_headers(self._cors_origins, request, methods)

    def _error(self, request: web.Request, err: _HttpError) -> web.Response:
        return error_response(self._cors_origins, request, err)
