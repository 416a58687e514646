"""The publisher role of an RTSP server session (RFC 2326 §10.11 RECORD).

A :class:`PublisherSession` exists from ANNOUNCE on: it holds the claim on the source
(:class:`~mediaserver.core.push.PushSession`) and the announced session description. Each
SETUP (``mode=record``, TCP interleaved) binds one announced media section to a channel pair;
RECORD begins the Stream's session. RTP of the video track is depacketized with the
:mod:`mediaserver.protocols` depacketizers into access units; RTP of an announced AAC track
(``mpeg4-generic``, RFC 3640) is depacketized into the Stream's audio side-channel when that
track was set up; RTP of other tracks is counted and dropped; RTCP is a keep-alive. TEARDOWN,
a closed connection or an eviction by the hub (takeover, silence, source stopped) releases the
claim.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mediaserver.errors import PublisherBusy, PushSessionClosed

from ...core.access_unit import AccessUnit, VideoTrack
from ...core.push import PushSession
from ...formats.aac import RtpAacReceiver
from ...formats.rtp_video import RtpVideoReceiver
from ...protocols.aac import AacError, find_aac_format
from ...protocols.h264 import H264Depacketizer
from ...protocols.h265 import H265Depacketizer
from ...protocols.rtsp.errors import RtspError, SdpError
from ...protocols.rtsp.media import VideoFormat, find_video_format
from ...protocols.rtsp.message import Request, Response
from ...protocols.rtsp.transport import TransportSpec, parse_transport
from ...protocols.sdp import SessionDescription
from .context import ServerContext
from .paths import parse_uri
from .session import ServerSession, SessionState

if TYPE_CHECKING:
    from .conn import RtspConnection

logger = logging.getLogger(__name__)

_TCP_PROFILES = frozenset({"RTP/AVP/TCP"})


def match_track(uri: str, sdp: SessionDescription) -> int:
    """Index of the announced media section a SETUP URI names; 404 when none.

    ffmpeg appends the control to the whole announce URL, query included
    (``rtsp://h/cam?token=T/streamid=0``), so the URI is matched by its ending as well as by
    its path.
    """
    path = urlsplit(uri).path.rstrip("/")
    bare = uri.split("?", 1)[0].rstrip("/")
    for index, media in enumerate(sdp.media):
        control = (media.control or "").strip()
        if not control or control == "*":
            if len(sdp.media) == 1:
                return index
            continue
        if "://" in control:
            if bare == control.split("?", 1)[0].rstrip("/"):
                return index
            control = urlsplit(control).path.rsplit("/", 1)[-1]
        if uri.rstrip("/").endswith("/" + control) or path.endswith("/" + control):
            return index
    raise RtspError(404, "SETUP names no announced track")


class PublisherSession(ServerSession):
    """Receives one publisher's tracks and feeds its source's Stream."""

    role = "publish"

    def __init__(self, ctx: ServerContext, path: str, owner: object, push: PushSession,
                 sdp: SessionDescription, fmt: VideoFormat) -> None:
        super().__init__(ctx, path, owner)
        self.push = push
        self.sdp = sdp
        self.fmt = fmt
        self.video_index = sdp.media.index(fmt.media)
        #: interleaved channel -> (media index, is RTCP)
        self._channels: dict[int, tuple[int, bool]] = {}
        self._set_up: set[int] = set()
        self.recording = False
        #: why the session ends: "teardown" (clean) unless the connection went away
        self.end_reason = "connection closed"
        #: RTP of the video track -> access units (its counters are this session's)
        self.video = RtpVideoReceiver(fmt, self._push_unit, self._push_track)
        self.other_packets = 0
        self.audio: RtpAacReceiver | None = None
        self.audio_index = -1
        self.audio_frames = 0
        try:
            aac = find_aac_format(sdp)
        except AacError as exc:
            aac = None
            logger.info("[%s] announced AAC track ignored: %s", path, exc)
        if aac is not None:
            self.audio = RtpAacReceiver(aac)
            self.audio_index = sdp.media.index(aac.media)

    # -- requests (the connection passes itself) ------------------------------------------------

    @classmethod
    async def announce(cls, conn: RtspConnection, request: Request, cseq: int) -> Response:
        """ANNOUNCE: claim the source and hold the session on ``conn`` until its first SETUP."""
        source_id, control = parse_uri(request.uri)
        if control is not None:
            raise RtspError(400, "ANNOUNCE names a track, not a stream")
        if conn.announced is not None or any(isinstance(s, PublisherSession)
                                             for s in conn.sessions.values()):
            raise RtspError(455, "this connection already publishes")
        await conn.authorize(request, source_id, "publish")
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
        publishers = conn.ctx.publishers
        assert publishers is not None
        try:
            push = await publishers.claim(source_id, f"rtsp:{conn.peer}",
                                          on_evict=conn.evicted)
        except PublisherBusy as exc:
            raise RtspError(409, str(exc)) from None
        if conn.closing:
            push.release("connection closed")
            raise ConnectionResetError("connection closed during ANNOUNCE")
        conn.announced = cls(conn.ctx, source_id, conn, push, sdp, fmt)
        logger.info("[%s] announced by %s: %s %sx%s", source_id, conn.peer, fmt.codec,
                    fmt.width, fmt.height)
        return conn.ok(cseq)

    async def on_setup(self, conn: RtspConnection, request: Request, cseq: int,
                       specs: list[TransportSpec]) -> Response:
        """SETUP with ``mode=record``: bind one announced track to interleaved channels."""
        if stream_of(request.uri) != self.path:
            raise RtspError(400, "SETUP names another stream than the announced one")
        index = match_track(request.uri, self.sdp)
        channels = _record_channels(conn, specs)
        self.setup_track(index, channels)
        if self is conn.announced:
            conn.announced = None
            conn.add_session(self)
            self.ctx.stats.publish_sessions_total += 1
        reply = TransportSpec("RTP/AVP/TCP", "unicast", interleaved=channels, mode="RECORD")
        return conn.ok(cseq, self, Transport=reply.format())

    async def on_record(self, conn: RtspConnection, request: Request, cseq: int) -> Response:
        if parse_uri(request.uri)[0] != self.path:
            raise RtspError(400, "RECORD names another stream than the session's")
        self.record()
        return conn.ok(cseq, self)

    @property
    def depacketizer(self) -> H264Depacketizer | H265Depacketizer:
        return self.video.depacketizer

    @property
    def track(self) -> VideoTrack:
        return self.video.track

    @property
    def packets(self) -> int:
        return self.video.packets

    @property
    def octets(self) -> int:
        return self.video.octets

    @property
    def malformed(self) -> int:
        """Unparsable RTP or a foreign payload type, on the video or the audio track."""
        return self.video.malformed + (self.audio.malformed if self.audio is not None else 0)

    @property
    def frames(self) -> int:
        return self.video.frames

    # -- setup ------------------------------------------------------------------------------

    def owns_channel(self, channel: int) -> bool:
        return channel in self._channels

    @property
    def has_video(self) -> bool:
        return self.video_index in self._set_up

    def setup_track(self, index: int, channels: tuple[int, int]) -> None:
        if index in self._set_up:
            raise RtspError(455, "track already set up")
        if self.recording:
            raise RtspError(455, "SETUP while recording")
        self._set_up.add(index)
        self._channels[channels[0]] = (index, False)
        self._channels[channels[1]] = (index, True)

    def record(self) -> None:
        if self.recording:
            raise RtspError(455, "already recording")
        if not self.has_video:
            raise RtspError(455, "RECORD before SETUP of the video track")
        try:
            self.push.begin(self.track)
        except PushSessionClosed as exc:
            raise RtspError(454, f"publisher session ended: {exc}") from None
        self.recording = True
        self.state = SessionState.PLAYING
        logger.info("[%s] recording from %s (%s %sx%s)", self.path, self.id, self.fmt.codec,
                    self.track.width, self.track.height)

    # -- media ------------------------------------------------------------------------------

    def on_frame(self, channel: int, payload: bytes) -> bool:
        """One interleaved frame on a channel of this session; False if it was dropped."""
        index, rtcp = self._channels[channel]
        if not self.recording:
            return False
        self.touch()
        if rtcp:
            self.ctx.stats.rtcp_in += 1
            return True
        if index == self.audio_index and self.audio is not None:
            self._on_audio_rtp(payload)
            return True
        if index != self.video_index:
            self.other_packets += 1
            return True
        self.video.on_rtp(payload)
        return True

    def _on_audio_rtp(self, data: bytes) -> None:
        audio = self.audio
        assert audio is not None
        packet = audio.parse(data)
        if packet is None or self.push.closed or not self.push.began:
            return
        for frame in audio.frames(packet):
            self.push.stream.audio.publish(frame)
            self.audio_frames += 1

    def _push_unit(self, unit: AccessUnit) -> bool:
        try:
            self.push.publish(unit)
        except PushSessionClosed:
            self._hang_up()
            return False
        self.ctx.stats.frames_in += 1
        return True

    def _push_track(self, track: VideoTrack) -> None:
        if self.recording:
            try:
                self.push.set_track(track)
            except PushSessionClosed:
                self._hang_up()

    def _hang_up(self) -> None:
        close = getattr(self.owner, "close", None)
        if close is not None:
            close()

    # -- end --------------------------------------------------------------------------------

    async def aclose(self) -> None:
        if self.state is not SessionState.CLOSED:
            self.push.release(self.end_reason)
            stats = self.ctx.stats
            stats.publish_frames_dropped += self.depacketizer.dropped_frames
            stats.packets_malformed_in += self.malformed
            logger.info("[%s] publisher session %s ended: %d packets, %d frames, %d dropped, "
                        "%d malformed, %d of other tracks, %d audio frames", self.path,
                        self.id, self.packets, self.frames, self.depacketizer.dropped_frames,
                        self.malformed, self.other_packets, self.audio_frames)
        await super().aclose()


def _record_channels(conn: RtspConnection, specs: list[TransportSpec]) -> tuple[int, int]:
    for spec in specs:
        if spec.profile.upper() not in _TCP_PROFILES or spec.cast == "multicast":
            continue
        return conn.interleaved_channels(spec.interleaved)
    raise RtspError(461, "publishing needs RTP/AVP/TCP interleaved transport")


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
