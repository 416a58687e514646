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
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiortc import RTCRtpReceiver, RTCSessionDescription

from mediaserver.config.media import WebRtcConfig
from mediaserver.config.transcode import TranscodeProfile
from mediaserver.core.interfaces import PushClaims, PushSession
from mediaserver.errors import FusionhubError, HttpError, refusal

from .endpoint import NEGOTIATION_TIMEOUT, SessionCounters, SessionEndpoint
from .opus_relay import AudioRelay
from .whip_offer import check_publish_offer
from .whip_session import WhipSession

logger = logging.getLogger(__name__)

#: ``source_for(request, source_id, action)`` → ``(principal, SourceConfig)``; raises
#: AccessDenied / SourceNotFound (``Access.source_for`` implements it).
SourceFor = Callable[[web.Request, str, str], Awaitable[tuple[Any, Any]]]


@dataclass(slots=True)
class WhipCounters(SessionCounters):
    frames_received: int = 0  # totals of closed sessions
    bytes_received: int = 0


class WhipEndpoint(SessionEndpoint[WhipSession]):
    """Accepts WHIP publishers for sources declared ``publish: true``."""

    kind = "whip"
    peer_role = "publisher"
    _log = logger

    def __init__(self, pushers: PushClaims, source_for: SourceFor, webrtc: WebRtcConfig, *,
                 cors_origins: tuple[str, ...] = ("*",), shutdown_timeout: float = 10.0,
                 pli_interval: float = 2.0, media_timeout: float = 10.0,
                 vp8_profile: TranscodeProfile | None = None,
                 audio: AudioRelay | None = None) -> None:
        super().__init__(webrtc, WhipCounters(), cors_origins=cors_origins,
                         shutdown_timeout=shutdown_timeout)
        self.audio = audio
        self._pushers = pushers
        self._source_for = source_for
        self._pli_interval = pli_interval
        self._media_timeout = media_timeout
        self._vp8_profile = vp8_profile or TranscodeProfile(bitrate=1_500_000)

    def session_for(self, source_id: str) -> WhipSession | None:
        return next((s for s in self._sessions.values() if s.source_id == source_id), None)

    # -- handlers -------------------------------------------------------------------------

    async def _open(self, request: web.Request, source_id: str) -> web.StreamResponse:
        (_, source), body = await self._admit(request, source_id, self._source_for, "publish")
        if not getattr(source, "publish", False):
            raise HttpError(403, f"source {source_id} does not accept publishers "
                            "(publish: false)")
        offer_sdp, offer = self._check_offer(body, check_publish_offer)

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
        return self._created(request, session, answer)

    async def _claim(self, source_id: str, session_id: str,
                     on_evict: Callable[[str], None]) -> PushSession:
        """Takeover follows the publishers' configured policy (a client cannot force it)."""
        try:
            return await self._pushers.claim(source_id, f"whip:{session_id[:6]}",
                                             on_evict=on_evict)
        except FusionhubError as exc:  # no such source, not publish: true, PublisherBusy
            refused = refusal(exc)
            if refused is None:
                raise
            raise HttpError(refused.status, refused.message, refused.headers) from None

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
            await self._negotiation_failed(exc, pc, source_id)
            raise

    def _watch(self, session: WhipSession) -> None:
        assert session._task is not None  # noqa: SLF001 - started just before
        session._task.add_done_callback(lambda _t: self._closed(session))  # noqa: SLF001

    def _closed(self, session: WhipSession) -> None:
        if self._sessions.pop(session.id, None) is None:
            return
        self._count_closed(session)
        self.counters.frames_received += session.frames
        self.counters.bytes_received += session.bytes


def _receive_preferences() -> list[Any]:
    """H.264 (packetization-mode=1) first, then VP8, then RTX: what aiortc can receive."""
    caps = RTCRtpReceiver.getCapabilities("video").codecs
    h264 = [c for c in caps if c.mimeType.lower() == "video/h264"
            and str(c.parameters.get("packetization-mode", "0")) == "1"]
    vp8 = [c for c in caps if c.mimeType.lower() == "video/vp8"]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    return h264 + vp8 + rtx


__all__ = ["WhipEndpoint", "WhipCounters"]
