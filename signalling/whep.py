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
import secrets
from dataclasses import dataclass

from aiohttp import web
from aiortc import RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.exceptions import OperationError

from mediaserver.config.media import WebRtcConfig
from mediaserver.core.interfaces import StreamProvider
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import HttpError, SourceNotFound, TranscodeRefused
from mediaserver.formats.h264 import H264
from mediaserver.http.access import AccessCheck
from mediaserver.transcode.audio import AudioTranscoders
from mediaserver.transcode.manager import ProfileStreams, Transcoders

from .endpoint import NEGOTIATION_TIMEOUT, SessionCounters, SessionEndpoint
from .opus_relay import AudioRelay, add_audio_track
from .peer import check_offer, h264_preferences, sps_profile_level_id
from .relay.aiortc_seam import slim_send_only
from .relay.setup import FastRelay, RelaySenders
from .tracks import PacketVideoTrack
from .whep_session import WhepSession

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class WhepCounters(SessionCounters):
    """Monotonic counters for metrics."""

    packets_sent: int = 0  # RTP totals of closed sessions (add live sessions' for a gauge)
    bytes_sent: int = 0


_HttpError = HttpError


class _NeedsTranscoder(Exception):
    """The source is not H.264: the viewer is moved to the transcoded stream."""


class WhepEndpoint(SessionEndpoint[WhepSession]):
    """Serves WHEP viewers of the node's streams, relaying H.264 as packets (no transcoding)."""

    kind = "whep"
    peer_role = "viewer"
    _log = logger

    def __init__(self, streams: StreamProvider, access: AccessCheck, webrtc: WebRtcConfig, *,
                 ready_timeout: float = 10.0, cors_origins: tuple[str, ...] = ("*",),
                 shutdown_timeout: float = 10.0, transcoders: Transcoders | None = None,
                 audio: AudioRelay | None = None,
                 audio_transcoders: AudioTranscoders | None = None) -> None:
        super().__init__(webrtc, WhepCounters(), cors_origins=cors_origins,
                         shutdown_timeout=shutdown_timeout)
        self._audio = audio
        self._audio_transcoders = audio_transcoders
        self._transcoders = transcoders
        self._streams: StreamProvider = (ProfileStreams(streams, transcoders)  # type: ignore
                                         if transcoders is not None else streams)
        self._access = access
        self._ready_timeout = ready_timeout
        self._connect_timeout = webrtc.connect_timeout
        #: the fast relay (packetize once, per-viewer headers + SRTP), None when disabled
        self.relay = FastRelay.create() if webrtc.fast_relay else None

    # -- metrics --------------------------------------------------------------------------

    def sessions_count(self) -> int:
        return len(self._sessions)

    def sessions(self) -> list[dict[str, object]]:
        """Per-session counters (frames, packets, bytes sent, drops); see :meth:`refresh_stats`."""
        return super().sessions()

    async def refresh_stats(self) -> None:
        """Pull aiortc's packet/byte counters into every live session (call before scraping)."""
        await asyncio.gather(*(s.refresh_stats() for s in tuple(self._sessions.values())))

    def _report_teardowns(self, done: set[asyncio.Future[None]]) -> None:
        for fut in done:
            if not fut.cancelled() and fut.exception() is not None:
                logger.warning("whep session teardown failed: %r", fut.exception())

    # -- handlers -------------------------------------------------------------------------

    async def _open(self, request: web.Request, source_id: str) -> web.StreamResponse:
        principal, body = await self._admit(request, source_id, self._access, "view")
        key = self._stream_key(source_id, request.query.get("profile") or None)
        offer_sdp, offer = self._check_offer(body, check_offer)

        session_id = secrets.token_urlsafe(16)
        self._pending += 1
        try:
            sub = await self._subscribe(key, session_id)
            try:
                pc, transceiver, track, answer = await self._prepare(source_id, sub, offer_sdp)
            except _NeedsTranscoder:
                self._streams.unsubscribe(sub)
                sub = await self._subscribe(self._stream_key(source_id, None, fallback=True),
                                            session_id)
                try:
                    pc, transceiver, track, answer = await self._prepare(source_id, sub,
                                                                         offer_sdp)
                except BaseException:
                    self._streams.unsubscribe(sub)
                    raise
            except BaseException:
                self._streams.unsubscribe(sub)
                raise
        finally:
            self._pending -= 1

        track, fast = self._fast_senders(pc, transceiver, track, sub, session_id)
        session = WhepSession(session_id, source_id, pc, transceiver.sender, sub, track,
                              release=self._streams.unsubscribe, on_closed=self._closed,
                              ice_ufrag=offer.ice_ufrag, principal=principal, fast=fast)
        self._sessions[session_id] = session
        self.counters.sessions_opened += 1
        session.start(self._connect_timeout)
        logger.info("[%s] whep %s opened (%d sessions on node)", source_id, session.log_id,
                    len(self._sessions))
        return self._created(request, session, answer)

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
                       ) -> tuple[RTCPeerConnection, RTCRtpTransceiver, PacketVideoTrack, str]:
        key = sub.stream_id
        if not await self._streams.wait_ready(key, self._ready_timeout):
            raise _HttpError(504, f"source {source_id} did not deliver video within "
                             f"{self._ready_timeout:g} s (camera offline or unreachable)")
        codec, sps = self._source_codec(key)
        if codec != "h264":
            if self._transcoders is not None and key == source_id:
                raise _NeedsTranscoder(codec)
            raise _HttpError(406, f"source codec {codec} needs a transcoder profile")
        track_type = PacketVideoTrack if self.relay is None else self.relay.track_type
        track = track_type(sub, catch_up_bitrate=self._webrtc.catch_up_bitrate)
        pc = self._peers.create()
        self.counters.peer_connections_created += 1
        try:
            async with asyncio.timeout(NEGOTIATION_TIMEOUT):
                transceiver = pc.addTransceiver(track, direction="sendonly")
                slim_send_only(transceiver)  # ~100 KiB per viewer of unused receiver state
                profile = sps_profile_level_id(sps) if sps else None
                transceiver.setCodecPreferences(h264_preferences(profile))
                self._add_audio(pc, source_id, offer)
                await pc.setRemoteDescription(RTCSessionDescription(sdp=offer, type="offer"))
                self._peers.prepare_gathering(pc)
                await pc.setLocalDescription(await pc.createAnswer())
            if self._closing:
                raise _HttpError(503, "server is shutting down")
            return pc, transceiver, track, pc.localDescription.sdp
        except BaseException as exc:
            await self._negotiation_failed(exc, pc, source_id,
                                           422 if isinstance(exc, OperationError) else 400)
            raise

    def _fast_senders(self, pc: RTCPeerConnection, transceiver: RTCRtpTransceiver,
                      track: PacketVideoTrack, sub: Subscriber, session_id: str
                      ) -> tuple[PacketVideoTrack, RelaySenders | None]:
        """The viewer's fast-path senders, or aiortc's own (relay disabled or not possible)."""
        if self.relay is None:
            return track, None
        key = sub.stream_id
        prefix = f"{key}:{session_id[:6]}"
        video = self.relay.sender(transceiver, track, lambda: self._streams.stream(key),
                                  log_prefix=prefix)
        audio = self.relay.audio_sender(pc, log_prefix=prefix)
        if video is None:
            track = PacketVideoTrack(sub, catch_up_bitrate=self._webrtc.catch_up_bitrate)
            transceiver.sender.replaceTrack(track)
        return track, RelaySenders(video, audio)

    def _add_audio(self, pc: RTCPeerConnection, source_id: str, offer: str) -> None:
        """Opus for a viewer that offers audio (see :func:`.opus_relay.add_audio_track`)."""
        if self._audio is not None and "m=audio" in offer:
            add_audio_track(pc, self._audio, source_id, self._streams.stream(source_id),
                            self._audio_transcoders,
                            self.relay.audio_track_type if self.relay is not None else None)

    def _source_codec(self, source_id: str) -> tuple[str, bytes | None]:
        """The source's codec and H.264 SPS (track parameters, else the cached keyframe)."""
        stream = self._streams.stream(source_id)
        if stream is None:
            raise _HttpError(504, f"source {source_id} stopped before video arrived")
        track, gop = stream.track, stream.gop()
        codec = track.codec if track is not None else (gop[0].codec if gop else "h264")
        candidates = list(track.parameter_sets if track else ()) + list(gop[0].nalus if gop
                                                                         else ())
        sps = H264.kinds.find_sps(candidates)
        return codec, sps if codec == "h264" else None

    def _closed(self, session: WhepSession) -> None:
        self._sessions.pop(session.id, None)
        self._count_closed(session)
        self.counters.packets_sent += session.packets_sent
        self.counters.bytes_sent += session.bytes_sent
