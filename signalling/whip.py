"""WHIP (RFC 9725) publishing endpoint: field devices push WebRTC into a source's Stream.

Routes (see :meth:`WhipEndpoint.add_routes`):

- ``POST /whip/{source_id}`` with an ``application/sdp`` offer (video ``sendonly``; H.264
  packetization-mode=1 or VP8; audio optional) → ``201`` + SDP answer (non-trickle),
  ``Location: /whip/sessions/{id}``, ``ETag``, ``Link: rel="ice-server"``.
- ``DELETE /whip/sessions/{id}`` → ``200`` (the 128-bit session URL is the capability).
- ``PATCH /whip/sessions/{id}`` trickle-ice-sdpfrag → ``204`` (ICE restart → ``422``).
- ``OPTIONS`` on both: CORS preflight.

Checks on POST, in order, all before any RTCPeerConnection exists: source id syntax (400),
content type (415), body size (413), ``source_for(request, id, "publish")`` (401/403/404: a
device token publishes only its own source, viewer tokens get 403), source declared
``publish: true`` (403), session cap (503), offer SDP (400 / 422), publisher claim (409 busy).
The claim goes to :class:`mediaserver.core.push.PushPublishers` (shared with RTSP/RTMP push:
status, takeover, silence eviction, grace period); an eviction ends the WHIP session.

H.264 stays encoded end to end (:mod:`.whip_receiver`); VP8 is decoded by aiortc and encoded
to H.264 (:mod:`.whip_session`). The source turns ``online`` at the first keyframe and
``offline`` when the session ends (DELETE, ICE failure, media silence, shutdown).
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from aiohttp import web
from aiortc import RTCRtpReceiver, RTCSessionDescription
from multidict import CIMultiDict

from mediaserver.config.media import WebRtcConfig
from mediaserver.config.transcode import TranscodeProfile
from mediaserver.errors import AccessDenied, SourceNotFound
from mediaserver.redact import scrub

from .http_session import (
    MAX_PATCH_BYTES,
    HttpError,
    apply_sdpfrag,
    authorize,
    cors_headers,
    error_response,
    read_body,
    read_offer,
)
from .peer import OfferError, PeerFactory
from .whip_audio import AudioRelay
from .whip_offer import check_publish_offer
from .whip_push import PushClaims, PushSession
from .whip_session import WhipSession

logger = logging.getLogger(__name__)

NEGOTIATION_TIMEOUT = 15.0
_SOURCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")

#: ``source_for(request, source_id, action)`` → ``(principal, SourceConfig)``; raises
#: AccessDenied / SourceNotFound (``Access.source_for`` implements it).
SourceFor = Callable[[web.Request, str, str], Awaitable[tuple[Any, Any]]]


@dataclass(slots=True)
class WhipCounters:
    requests_rejected: int = 0
    peer_connections_created: int = 0
    negotiations_failed: int = 0
    sessions_opened: int = 0
    sessions_closed: int = 0
    sessions_failed: int = 0
    frames_received: int = 0  # totals of closed sessions
    bytes_received: int = 0


class WhipEndpoint:
    """Accepts WHIP publishers for sources declared ``publish: true``."""

    def __init__(self, pushers: PushClaims, source_for: SourceFor, webrtc: WebRtcConfig, *,
                 cors_origins: tuple[str, ...] = ("*",), shutdown_timeout: float = 10.0,
                 pli_interval: float = 2.0, media_timeout: float = 10.0,
                 vp8_profile: TranscodeProfile | None = None,
                 audio: AudioRelay | None = None) -> None:
        self.audio = audio
        self._pushers = pushers
        self._source_for = source_for
        self._webrtc = webrtc
        self._peers = PeerFactory(webrtc)
        self._cors_origins = tuple(cors_origins)
        self._shutdown_timeout = shutdown_timeout
        self._pli_interval = pli_interval
        self._media_timeout = media_timeout
        self._vp8_profile = vp8_profile or TranscodeProfile(bitrate=1_500_000)
        self._sessions: dict[str, WhipSession] = {}
        self._pending = 0
        self._closing = False
        self.counters = WhipCounters()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_route("POST", "/whip/{source_id}", self._post)
        app.router.add_route("OPTIONS", "/whip/{source_id}", self._options_endpoint)
        app.router.add_route("DELETE", "/whip/sessions/{session_id}", self._delete)
        app.router.add_route("PATCH", "/whip/sessions/{session_id}", self._patch)
        app.router.add_route("OPTIONS", "/whip/sessions/{session_id}", self._options_session)

    def sessions(self) -> list[dict[str, object]]:
        return [s.info() for s in self._sessions.values()]

    def session_for(self, source_id: str) -> WhipSession | None:
        return next((s for s in self._sessions.values() if s.source_id == source_id), None)

    def metrics(self) -> dict[str, int]:
        return {**asdict(self.counters), "sessions": len(self._sessions),
                "pending": self._pending}

    async def aclose(self) -> None:
        """Stop accepting, end every session (bounded wait), cancel any that overran."""
        self._closing = True
        sessions = tuple(self._sessions.values())
        for session in sessions:
            session.end("server shutting down")
        if not sessions:
            return
        waits = [asyncio.ensure_future(s.wait_closed()) for s in sessions]
        _, pending = await asyncio.wait(waits, timeout=self._shutdown_timeout)
        for fut in pending:
            fut.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        await asyncio.gather(*(s.cancel() for s in sessions), return_exceptions=True)

    # -- handlers -------------------------------------------------------------------------

    async def _post(self, request: web.Request) -> web.StreamResponse:
        source_id = request.match_info["source_id"]
        shown = source_id if _SOURCE_ID.fullmatch(source_id) else "?"
        try:
            return await self._open(request, source_id)
        except HttpError as err:
            self.counters.requests_rejected += 1
            logger.info("[%s] whip offer rejected: %d %s", shown, err.status, err)
            return error_response(self._cors_origins, request, err)
        except Exception:
            self.counters.requests_rejected += 1
            logger.exception("[%s] whip offer failed", shown)
            return error_response(self._cors_origins, request, HttpError(500, "internal error"))

    async def _open(self, request: web.Request, source_id: str) -> web.StreamResponse:
        if self._closing:
            raise HttpError(503, "server is shutting down")
        if not _SOURCE_ID.fullmatch(source_id):
            raise HttpError(400, "invalid source id")
        body = await read_offer(request)
        _, source = await authorize(self._source_for, request, source_id, "publish")
        if not getattr(source, "publish", False):
            raise HttpError(403, f"source {source_id} does not accept publishers "
                            "(publish: false)")
        if len(self._sessions) + self._pending >= self._webrtc.max_sessions:
            raise HttpError(503, "too many WebRTC sessions on this node", {"Retry-After": "5"})
        try:
            offer_sdp = body.decode("utf-8")
            offer = check_publish_offer(offer_sdp)
        except UnicodeDecodeError:
            raise HttpError(400, "offer is not UTF-8 text") from None
        except OfferError as exc:
            raise HttpError(exc.status, str(exc)) from None

        session_id = secrets.token_urlsafe(16)
        holder: list[WhipSession] = []
        evicted: list[str] = []

        def on_evict(reason: str) -> None:  # takeover, silence, source deleted, shutdown
            if holder:
                holder[0].end(f"evicted: {reason}")
            else:
                evicted.append(reason)

        self._pending += 1
        try:
            push = await self._claim(source_id, session_id, on_evict)
            try:
                pc = self._peers.create()
                self.counters.peer_connections_created += 1
                session = WhipSession(session_id, source_id, pc, push,
                                      ice_ufrag=offer.ice_ufrag, vp8_profile=self._vp8_profile,
                                      pli_interval=self._pli_interval,
                                      media_timeout=self._media_timeout, audio=self.audio)
                holder.append(session)
                answer = await self._negotiate(source_id, session, offer_sdp)
                if evicted:
                    raise HttpError(409, f"publisher evicted: {evicted[0]}")
            except BaseException:
                push.release("negotiation failed")
                raise
        finally:
            self._pending -= 1

        self._sessions[session_id] = session
        self.counters.sessions_opened += 1
        session.start(self._webrtc.connect_timeout)
        self._watch(session)
        logger.info("[%s] whip %s opened (%d publishers on node)", source_id, session.log_id,
                    len(self._sessions))
        headers = CIMultiDict(cors_headers(self._cors_origins, request))
        headers["Location"] = f"/whip/sessions/{session_id}"
        headers["ETag"] = session.etag
        for link in self._peers.link_headers():
            headers.add("Link", link)
        return web.Response(status=201, text=answer, content_type="application/sdp",
                            headers=headers)

    async def _claim(self, source_id: str, session_id: str,
                     on_evict: Callable[[str], None]) -> PushSession:
        """Takeover follows the publishers' configured policy (a client cannot force it)."""
        try:
            return await self._pushers.claim(source_id, f"whip:{session_id[:6]}",
                                             on_evict=on_evict)
        except SourceNotFound:
            raise HttpError(404, "no such source") from None
        except AccessDenied as exc:  # PublishNotAllowed
            raise HttpError(exc.status, str(exc)) from None
        except Exception as exc:
            status = getattr(exc, "status", None)
            if isinstance(status, int) or "busy" in type(exc).__name__.lower():
                raise HttpError(status if isinstance(status, int) else 409,
                                scrub(str(exc)) or "source already has a publisher") from None
            raise

    async def _negotiate(self, source_id: str, session: WhipSession, offer: str) -> str:
        pc = session.pc
        try:
            async with asyncio.timeout(NEGOTIATION_TIMEOUT):
                video = pc.addTransceiver("video", direction="recvonly")
                video.setCodecPreferences(_receive_preferences())
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                for transceiver in pc.getTransceivers():
                    session.attach(transceiver.receiver, transceiver.kind)
                self._peers.prepare_gathering(pc)
                await pc.setLocalDescription(await pc.createAnswer())
            if self._closing:
                raise HttpError(503, "server is shutting down")
            return pc.localDescription.sdp
        except BaseException as exc:
            self.counters.negotiations_failed += 1
            await pc.close()
            if isinstance(exc, HttpError | asyncio.CancelledError):
                raise
            if isinstance(exc, TimeoutError):
                raise HttpError(500, "WebRTC negotiation timed out") from None
            if isinstance(exc, Exception):
                reason = scrub(str(exc)) or type(exc).__name__
                logger.warning("[%s] whip negotiation failed: %s", source_id, reason)
                raise HttpError(422, f"cannot answer this offer: {reason}") from None
            raise

    def _watch(self, session: WhipSession) -> None:
        assert session._task is not None  # noqa: SLF001 - started just before
        session._task.add_done_callback(lambda _t: self._closed(session))  # noqa: SLF001

    def _closed(self, session: WhipSession) -> None:
        if self._sessions.pop(session.id, None) is None:
            return
        self.counters.sessions_closed += 1
        self.counters.sessions_failed += session.failed
        self.counters.frames_received += session.frames
        self.counters.bytes_received += session.bytes

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        session = self._sessions.get(request.match_info["session_id"])
        if session is None:
            return error_response(self._cors_origins, request,
                                  HttpError(404, "no such session"))
        session.end("deleted by publisher")
        try:
            async with asyncio.timeout(self._shutdown_timeout):
                await session.wait_closed()
        except TimeoutError:
            logger.warning("[%s] whip %s: teardown still running", session.source_id,
                           session.log_id)
        return web.Response(status=200, headers=cors_headers(self._cors_origins, request))

    async def _patch(self, request: web.Request) -> web.StreamResponse:
        try:
            session = self._sessions.get(request.match_info["session_id"])
            if session is None:
                raise HttpError(404, "no such session")
            if request.content_type != "application/trickle-ice-sdpfrag":
                raise HttpError(415, "PATCH must be Content-Type: "
                                "application/trickle-ice-sdpfrag",
                                {"Accept-Patch": "application/trickle-ice-sdpfrag"})
            if_match = request.headers.get("If-Match")
            if if_match is not None and if_match.strip() not in ("*", session.etag):
                raise HttpError(412, "ETag does not match this session")
            body = await read_body(request, MAX_PATCH_BYTES)
            try:
                await apply_sdpfrag(session.pc, session.ice_ufrag, body.decode("utf-8"))
            except UnicodeDecodeError:
                raise HttpError(400, "sdpfrag is not UTF-8 text") from None
        except HttpError as err:
            return error_response(self._cors_origins, request, err)
        return web.Response(status=204, headers=cors_headers(self._cors_origins, request))

    async def _options_endpoint(self, request: web.Request) -> web.StreamResponse:
        headers = cors_headers(self._cors_origins, request, "POST, OPTIONS")
        headers["Accept-Post"] = "application/sdp"
        return web.Response(status=204, headers=headers)

    async def _options_session(self, request: web.Request) -> web.StreamResponse:
        headers = cors_headers(self._cors_origins, request, "PATCH, DELETE, OPTIONS")
        headers["Accept-Patch"] = "application/trickle-ice-sdpfrag"
        return web.Response(status=204, headers=headers)


def _receive_preferences() -> list[Any]:
    """H.264 (packetization-mode=1) first, then VP8, then RTX: what aiortc can receive."""
    caps = RTCRtpReceiver.getCapabilities("video").codecs
    h264 = [c for c in caps if c.mimeType.lower() == "video/h264"
            and str(c.parameters.get("packetization-mode", "0")) == "1"]
    vp8 = [c for c in caps if c.mimeType.lower() == "video/vp8"]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    return h264 + vp8 + rtx


__all__ = ["WhipEndpoint", "WhipCounters"]
