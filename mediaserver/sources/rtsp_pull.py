"""Pull one RTSP camera into a Stream (the ``Publisher`` for ``rtsp://`` sources).

``run`` does OPTIONS, DESCRIBE (with the URL's credentials), SETUP of the first H.264/H.265
video track over TCP interleaved or UDP, PLAY, and then turns RTP into access units until the
camera stops, stays silent for ``read_timeout`` or the task is cancelled; it always sends a
best-effort TEARDOWN. Retries belong to the supervisor.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import secrets
from collections.abc import Callable

from ..core.access_unit import AccessUnit, VideoTrack
from ..core.stream import Stream
from ..errors import UnsupportedMedia, UpstreamError, UpstreamTimeout
from ..formats.rtp_video import RtpVideoReceiver
from ..protocols.errors import ProtocolError
from ..protocols.rtcp_feedback import build_pli
from ..protocols.rtp import (
    RtcpBye,
    RtcpSenderReport,
    SequenceTracker,
    build_receiver_report,
    parse_rtcp,
)
from ..protocols.rtsp.media import VideoFormat, find_video_format
from ..protocols.rtsp.transport import TransportSpec, format_range, parse_session, parse_transport
from ..protocols.sdp import resolve_control
from ..redact import redact_url, scrub
from .rtsp_client import RtspClientConnection, UdpPair

logger = logging.getLogger(__name__)

#: Seconds between RTCP receiver reports (RFC 3550 §6.2).
RR_INTERVAL = 5.0
#: Session timeout assumed when SETUP's answer names none (RFC 2326 §12.37).
DEFAULT_SESSION_TIMEOUT = 60
TEARDOWN_TIMEOUT = 1.0
#: Frames kept while PLAY's answer is being processed (a few seconds of video at most).
MAX_HELD_FRAMES = 100


class _RtpReceiver:
    """RTP and RTCP of the pulled track: the shared :class:`RtpVideoReceiver` turns RTP into
    access units; this adds the pull's counters, sequence tracking, RTCP and the frames held
    until PLAY's answer is processed."""

    def __init__(self, stream: Stream, fmt: VideoFormat, owner: RtspPullPublisher) -> None:
        self.video = RtpVideoReceiver(fmt, self._on_unit, self._on_track)
        self.stream = stream
        self.owner = owner
        self.tracker = SequenceTracker()
        self.ssrc: int | None = None
        self.last_packet = asyncio.get_running_loop().time()
        self.bye = False
        self._lsr = 0
        self._lsr_time: float | None = None
        # Media can arrive right behind PLAY's answer, before run() has begun the stream's
        # session: those frames wait here (bounded) instead of being lost.
        self._held: collections.deque[AccessUnit] | None = collections.deque()

    def start(self) -> None:
        """PLAY succeeded: begin the stream's session and publish what arrived meanwhile."""
        self.stream.begin_session()
        self.stream.set_track(self.video.track)
        held, self._held = self._held or (), None
        for unit in held:
            self._to_stream(unit)

    def on_rtp(self, data: bytes) -> None:
        owner = self.owner
        packet = self.video.parse(data)
        if packet is None:
            owner.packets_malformed += 1
            return
        owner.packets_received += 1
        owner.bytes_received += len(data)
        self.stream.stats.packets_in += 1
        self.last_packet = asyncio.get_running_loop().time()
        if packet.ssrc != self.ssrc:
            if self.ssrc is not None:
                logger.info("[%s] camera switched SSRC %08x -> %08x", self.stream.id,
                            self.ssrc, packet.ssrc)
            self.ssrc = packet.ssrc
            self.tracker = SequenceTracker()
        self.tracker.update(packet.sequence_number)
        owner.packets_lost = self.tracker.lost
        depacketizer = self.video.depacketizer
        dropped = depacketizer.dropped_frames
        self.video.depacketize(packet)
        owner.frames_dropped += depacketizer.dropped_frames - dropped

    def _on_unit(self, unit: AccessUnit) -> bool:
        if self._held is None:
            return self._to_stream(unit)
        if len(self._held) >= MAX_HELD_FRAMES:
            self._held.popleft()
            self.owner.frames_dropped += 1
        self._held.append(unit)
        return True

    def _on_track(self, track: VideoTrack) -> None:
        if self._held is None:  # while holding, start() sets the newest track
            self.stream.set_track(track)

    def _to_stream(self, unit: AccessUnit) -> bool:
        self.stream.publish(unit)
        self.owner.frames_received += 1
        return True

    def on_rtcp(self, data: bytes) -> None:
        try:
            packets = parse_rtcp(data)
        except ProtocolError:
            self.owner.packets_malformed += 1
            return
        for packet in packets:
            if isinstance(packet, RtcpSenderReport):
                self._lsr = (packet.ntp_timestamp >> 16) & 0xFFFFFFFF
                self._lsr_time = asyncio.get_running_loop().time()
            elif isinstance(packet, RtcpBye) and (self.ssrc is None or self.ssrc in
                                                  packet.sources):
                self.bye = True

    def keyframe_request(self, own_ssrc: int) -> bytes | None:
        """RR + PLI (RFC 4585 §6.3.1) asking the camera's encoder for a keyframe."""
        if self.ssrc is None:
            return None
        return (self.receiver_report(own_ssrc) or b"") + build_pli(own_ssrc, self.ssrc)

    def receiver_report(self, own_ssrc: int) -> bytes | None:
        if self.ssrc is None:
            return None
        dlsr = 0
        if self._lsr_time is not None:
            dlsr = int((asyncio.get_running_loop().time() - self._lsr_time) * 65536)
        block = self.tracker.reception_report(self.ssrc, lsr=self._lsr,
                                              dlsr=min(dlsr, 0xFFFFFFFF))
        return build_receiver_report(own_ssrc, [block], cname="fusionhub")


class RtspPullPublisher:
    """Pulls one ``rtsp://`` URL; implements the core ``Publisher`` protocol.

    Counters (cumulative over runs): ``packets_received``, ``packets_lost``,
    ``packets_malformed`` (unparsable or foreign payload type), ``bytes_received``,
    ``frames_received`` and ``frames_dropped`` (incomplete or damaged pictures).
    """

    def __init__(self, url: str, *, transport: str = "tcp", connect_timeout: float = 5.0,
                 read_timeout: float = 10.0, user_agent: str = "fusionhub") -> None:
        if transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be 'tcp' or 'udp', not {transport!r}")
        self.url = url
        self.transport = transport
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.user_agent = user_agent
        self.packets_received = 0
        self.packets_lost = 0
        self.packets_malformed = 0
        self.bytes_received = 0
        self.frames_received = 0
        self.frames_dropped = 0
        #: local RTP/RTCP ports while a UDP session runs (None over TCP or between runs)
        self.udp_ports: tuple[int, int] | None = None
        self._foreign = 0
        self._udp: UdpPair | None = None

    @property
    def foreign_packets(self) -> int:
        """UDP datagrams dropped because they did not come from the camera's address."""
        return self._foreign + (self._udp.foreign if self._udp is not None else 0)

    def __repr__(self) -> str:
        return f"RtspPullPublisher({redact_url(self.url)}, {self.transport})"

    async def run(self, stream: Stream) -> None:
        """Pull until failure or cancellation; raises an UpstreamError subclass on failure."""
        conn = RtspClientConnection(self.url, connect_timeout=self.connect_timeout,
                                    user_agent=self.user_agent, log_prefix=stream.id)
        play_url: str | None = None
        try:
            await conn.connect()
            await conn.options()
            sdp, base = await conn.describe()
            fmt = find_video_format(sdp)
            if fmt is None:
                kinds = ", ".join(f"{m.kind} {'/'.join(r.encoding for r in m.rtpmap.values())}"
                                  for m in sdp.media) or "none"
                raise UnsupportedMedia(f"no H.264/H.265 video track (tracks: {kinds})")
            receiver = _RtpReceiver(stream, fmt, self)
            timeout, send_rtcp = await self._setup(
                conn, resolve_control(base, fmt.media.control), receiver)
            play_url = resolve_control(base, sdp.control)
            conn.expect_ok("PLAY", await conn.request(
                "PLAY", play_url, headers={"Range": format_range(0.0)}))
            receiver.start()
            logger.info("[%s] playing %s (%s %sx%s over %s)", stream.id, redact_url(self.url),
                        fmt.codec, fmt.width, fmt.height, self.transport.upper())
            await self._pump(conn, play_url, receiver, send_rtcp, timeout)
        except (UpstreamError, asyncio.CancelledError):
            raise
        except (OSError, ProtocolError) as exc:
            raise UpstreamError(f"{type(exc).__name__}: {scrub(str(exc))}") from exc
        finally:
            try:
                if conn.session is not None and play_url is not None:
                    await self._teardown(conn, play_url)
            finally:
                if self._udp is not None:
                    self._foreign += self._udp.foreign
                    self._udp.close()
                    self._udp = None
                    self.udp_ports = None
                await conn.aclose()

    async def _setup(self, conn: RtspClientConnection, track_url: str,
                     receiver: _RtpReceiver) -> tuple[int, Callable[[bytes], None]]:
        """SETUP the track; returns the session timeout and how to send RTCP."""
        udp: UdpPair | None = None
        if self.transport == "udp":
            udp = UdpPair(conn.local_ip or "0.0.0.0", conn.peer_ip or "", receiver.on_rtp,
                          receiver.on_rtcp)
            ports = await udp.open()
            self._udp, self.udp_ports = udp, ports
            spec = TransportSpec("RTP/AVP", "unicast", client_port=ports)
        else:
            spec = TransportSpec("RTP/AVP/TCP", "unicast", interleaved=(0, 1))
        response = conn.expect_ok("SETUP", await conn.request(
            "SETUP", track_url, headers={"Transport": spec.format()}))
        answer = parse_transport(response.headers.get("Transport") or spec.format())[0]
        session_header = response.headers.get("Session")
        if not session_header:
            raise UpstreamError("SETUP answer has no Session header")
        conn.session, timeout = parse_session(session_header)
        timeout = timeout or DEFAULT_SESSION_TIMEOUT
        if udp is not None:
            if answer.source:
                udp.allow(answer.source)  # a camera may send from another of its addresses
            if answer.server_port is not None:
                udp.server_rtcp = (answer.source or conn.peer_ip or "", answer.server_port[1])
            return timeout, udp.send_rtcp
        channels = answer.interleaved or (0, 1)
        conn.on_frame = lambda ch, payload: self._on_frame(receiver, channels, ch, payload)
        return timeout, lambda report: conn.send_frame(channels[1], report)

    def _on_frame(self, receiver: _RtpReceiver, channels: tuple[int, int], channel: int,
                  payload: bytes) -> None:
        if channel == channels[0]:
            receiver.on_rtp(payload)
        elif channel == channels[1]:
            receiver.on_rtcp(payload)
        else:
            self.packets_malformed += 1  # a channel never set up (BAD-INPUTS row 9)

    async def _pump(self, conn: RtspClientConnection, play_url: str, receiver: _RtpReceiver,
                    send_rtcp: Callable[[bytes], None], session_timeout: int) -> None:
        """Wait for the end of the session, sending keep-alives and receiver reports."""
        loop = asyncio.get_running_loop()
        keepalive_method = "GET_PARAMETER" if "GET_PARAMETER" in conn.public else "OPTIONS"
        keepalive_every = max(1.0, session_timeout / 2)
        own_ssrc = secrets.randbits(32)

        def request_keyframe() -> bool:
            request = receiver.keyframe_request(own_ssrc)
            if request is not None:
                send_rtcp(request)
            return request is not None

        receiver.stream.keyframe_requests.set_requester(request_keyframe)
        receiver.last_packet = loop.time()
        next_keepalive = loop.time() + keepalive_every
        next_report = loop.time() + 1.0
        while True:
            now = loop.time()
            if now - receiver.last_packet >= self.read_timeout:
                raise UpstreamTimeout(f"no RTP from the camera for {self.read_timeout:g} s")
            if receiver.bye:
                raise UpstreamError("the camera ended the stream (RTCP BYE)")
            if now >= next_keepalive:
                conn.send_nowait(keepalive_method, play_url)
                next_keepalive = now + keepalive_every
            if now >= next_report:
                report = receiver.receiver_report(own_ssrc)
                if report is not None:
                    send_rtcp(report)
                next_report = now + RR_INTERVAL
            deadline = min(receiver.last_packet + self.read_timeout, next_keepalive,
                           next_report)
            await asyncio.wait([conn.closed], timeout=max(0.01, deadline - loop.time()))
            if conn.closed.done():
                raise conn.closed.exception() or UpstreamError("connection closed")

    async def _teardown(self, conn: RtspClientConnection, url: str) -> None:
        """Best-effort TEARDOWN, bounded by :data:`TEARDOWN_TIMEOUT`."""
        with contextlib.suppress(UpstreamError, OSError, TimeoutError):
            await asyncio.wait_for(conn.send("TEARDOWN", url), TEARDOWN_TIMEOUT)
