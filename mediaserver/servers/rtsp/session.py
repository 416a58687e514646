"""RTSP server sessions (RFC 2326 §A.2): the base every role shares and the reader role.

A :class:`ServerSession` belongs to the TCP connection that created it and has a random id.
:class:`ReaderSession` plays one stream: ``READY`` after SETUP, ``PLAYING`` after PLAY, back to
``READY`` on PAUSE, ``CLOSED`` after TEARDOWN. While playing, one sender task reads the
session's bounded subscriber, packetizes each access unit with the session's own packetizer
(its own SSRC and sequence numbers) and hands the packets to the sink; a sender report goes out
every few seconds. The publisher role (ANNOUNCE/RECORD) is
:class:`~mediaserver.servers.rtsp.publisher.PublisherSession`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from mediaserver.errors import SubscriberClosed

from ...core.access_unit import VIDEO_CLOCK_RATE
from ...core.interfaces import Subscription
from ...protocols.rtp import build_sender_report, ntp_now
from ...protocols.rtsp.errors import RtspError
from ...protocols.rtsp.message import Request, Response
from ...protocols.rtsp.transport import TransportSpec, format_range
from ...redact import scrub
from .context import ServerContext
from .paths import parse_uri
from .sdp import TRACK_CONTROL, make_packetizer
from .sinks import InterleavedSink, MediaSink, UdpSink

if TYPE_CHECKING:
    from .conn import RtspConnection

logger = logging.getLogger(__name__)

_CNAME = "fusionhub"
#: one nominal picture (25 fps) of the 90 kHz clock
_FRAME_TICKS = 3600
_PROFILES = frozenset({"RTP/AVP", "RTP/AVP/UDP", "RTP/AVP/TCP"})


class SessionState(enum.Enum):
    READY = "ready"
    PLAYING = "playing"
    CLOSED = "closed"


class ServerSession:
    """State shared by every session role: id, owner connection, path, liveness."""

    role = "none"

    def __init__(self, ctx: ServerContext, path: str, owner: object) -> None:
        self.ctx = ctx
        self.id = secrets.token_hex(8)
        self.path = path
        self.owner = owner
        self.state = SessionState.READY
        self.last_activity = time.monotonic()
        self.sink: MediaSink | None = None

    def touch(self) -> None:
        """A keep-alive arrived (a request naming the session, or RTCP from the peer)."""
        self.last_activity = time.monotonic()

    def expired(self, now: float) -> bool:
        return now - self.last_activity > self.ctx.settings.session_timeout

    @property
    def channels(self) -> tuple[int, int] | None:
        """The session's interleaved (RTP, RTCP) channels; None when not over TCP."""
        return self.sink.channels if self.sink is not None else None

    def owns_channel(self, channel: int) -> bool:
        channels = self.channels
        return channels is not None and channel in channels

    async def aclose(self) -> None:
        """Release everything; idempotent."""
        self.state = SessionState.CLOSED
        self.ctx.sessions.discard(self)
        if self.sink is not None:
            self.sink.close()

    # -- requests on the session (the connection passes itself) ---------------------------------

    async def on_setup(self, conn: RtspConnection, request: Request, cseq: int,
                       specs: list[TransportSpec]) -> Response:
        raise RtspError(455, "SETUP is not valid for this session")

    async def on_play(self, conn: RtspConnection, cseq: int) -> Response:
        raise RtspError(455, "PLAY is not valid for this session")

    async def on_pause(self, conn: RtspConnection, cseq: int) -> Response:
        raise RtspError(455, "PAUSE is not valid for this session")

    async def on_record(self, conn: RtspConnection, request: Request, cseq: int) -> Response:
        raise RtspError(455, "RECORD is not valid for this session")


class ReaderSession(ServerSession):
    """Sends one stream to one reader."""

    role = "read"

    def __init__(self, ctx: ServerContext, path: str, owner: object, codec: str,
                 on_end: Callable[[ReaderSession, str], None]) -> None:
        super().__init__(ctx, path, owner)
        self.ssrc = secrets.randbits(32)
        self.packetizer = make_packetizer(codec, self.ssrc, ctx.settings.mtu)
        #: RTP timestamp of the first access unit sent (announced in RTP-Info)
        self.base_timestamp = secrets.randbits(32)
        #: the track's URL as the client knows it (for RTP-Info)
        self.control_url = ""
        self._offset: int | None = None
        self._last_timestamp: int | None = None
        self._on_end = on_end
        self._task: asyncio.Task[None] | None = None
        self._sub: Subscription | None = None
        self.packets = 0
        self.octets = 0
        self._last_sr = 0.0
        self._live: tuple[int, float] | None = None  # (rtp timestamp, monotonic time)

    @property
    def subscriber(self) -> Subscription | None:
        return self._sub

    # -- requests -------------------------------------------------------------------------------

    @classmethod
    async def setup(cls, conn: RtspConnection, request: Request, cseq: int,
                    specs: list[TransportSpec]) -> Response:
        """SETUP of a reader: a new session on ``conn`` with its sink (TCP interleaved or UDP)."""
        source_id, control = parse_uri(request.uri)
        if len(conn.sessions) >= conn.ctx.settings.max_sessions_per_connection:
            raise RtspError(453, "too many sessions on this connection")
        await conn.authorize(request, source_id)
        stream = await conn.ready_stream(source_id)
        assert stream.track is not None
        session = cls(conn.ctx, source_id, conn, stream.track.codec, conn.reader_ended)
        # RTP-Info names the track by the URL the client set it up with (ffmpeg matches it)
        session.control_url = request.uri if control is not None and "://" in request.uri \
            else conn.base_url(request.uri, source_id) + TRACK_CONTROL
        sink, reply = await session._open_sink(conn, specs)
        session.sink = sink
        if conn.closing:
            sink.close()
            raise ConnectionResetError("connection closed during SETUP")
        conn.add_session(session)
        logger.info("[%s] reader session %s from %s over %s", source_id, session.id,
                    conn.peer, reply.profile)
        return conn.ok(cseq, session, Transport=reply.format())

    async def on_play(self, conn: RtspConnection, cseq: int) -> Response:
        seq, rtptime = await self.play()
        info = f"url={self.control_url};seq={seq}"
        if rtptime is not None:
            info += f";rtptime={rtptime}"
        return conn.ok(cseq, self, Range=format_range(now=True), RTP_Info=info)

    async def on_pause(self, conn: RtspConnection, cseq: int) -> Response:
        await self.pause()
        return conn.ok(cseq, self)

    async def _open_sink(self, conn: RtspConnection, specs: list[TransportSpec]
                         ) -> tuple[MediaSink, TransportSpec]:
        settings = self.ctx.settings
        for spec in specs:
            if spec.profile.upper() not in _PROFILES or spec.cast == "multicast":
                continue
            if spec.mode not in (None, "PLAY"):
                continue
            if spec.protocol == "TCP":
                channels = conn.interleaved_channels(spec.interleaved)
                sink: MediaSink = InterleavedSink(
                    conn.writer, channels[0], channels[1], high_water=settings.write_high_water,
                    stall_timeout=settings.session_timeout)
                return sink, TransportSpec("RTP/AVP/TCP", "unicast", interleaved=channels,
                                           ssrc=self.ssrc)
            if spec.client_port is None or (spec.destination not in (None, conn.peer_host)):
                continue  # never send media to an address other than the client's own
            udp = await UdpSink.open(
                conn.local_host, conn.peer_host, spec.client_port,
                high_water=settings.write_high_water,
                on_rtcp=lambda data, addr: self._on_udp_rtcp(conn, addr))
            return udp, TransportSpec("RTP/AVP", "unicast", client_port=spec.client_port,
                                      server_port=udp.server_ports, ssrc=self.ssrc)
        raise RtspError(461, "no supported transport offered")

    def _on_udp_rtcp(self, conn: RtspConnection, addr: tuple) -> None:
        if addr[0] != conn.peer_host:
            self.ctx.stats.frames_ignored += 1  # foreign sender: not a keep-alive
            return
        self.touch()
        self.ctx.stats.rtcp_in += 1

    async def play(self) -> tuple[int, int | None]:
        """Subscribe and start sending; returns (first seq, first rtptime or None)."""
        if self.state is SessionState.PLAYING:
            return self.packetizer.sequence_number, None
        if self._last_timestamp is not None:
            # resuming after PAUSE starts at a cached keyframe that may be older than what was
            # sent: continue the RTP clock one frame on instead of stepping back
            self.base_timestamp = (self._last_timestamp + _FRAME_TICKS) & 0xFFFFFFFF
            self._offset = None
        sub = await self.ctx.provider.subscribe(self.path, f"rtsp:{self.id}")
        if self.state is SessionState.CLOSED:  # torn down while subscribing
            self.ctx.provider.unsubscribe(sub)
            raise ConnectionResetError("session closed")
        self._sub = sub
        self.state = SessionState.PLAYING
        self._task = asyncio.create_task(self._send_loop(sub), name=f"rtsp-send:{self.path}")
        return self.packetizer.sequence_number, self.base_timestamp

    async def pause(self) -> None:
        await self._stop_sending()
        if self.state is SessionState.PLAYING:
            self.state = SessionState.READY

    async def aclose(self) -> None:
        await self._stop_sending()
        await super().aclose()

    async def _stop_sending(self) -> None:
        task, self._task = self._task, None
        try:
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    if asyncio.current_task().cancelling():  # we are cancelled ourselves
                        raise
        finally:
            # a task cancelled before its first step never runs its ``finally``: the session,
            # not the task, owns the subscription
            self._release()

    def _release(self) -> None:
        """Detach the subscriber, if any; idempotent."""
        sub, self._sub = self._sub, None
        if sub is not None:
            self.ctx.stats.subscriber_drops += sub.dropped
            self.ctx.provider.unsubscribe(sub)

    async def _send_loop(self, sub: Subscription) -> None:
        reason = "source ended"
        try:
            while True:
                au = await sub.recv()
                if self._offset is None:
                    self._offset = self.base_timestamp - au.pts
                timestamp = (au.pts + self._offset) & 0xFFFFFFFF
                if sub.qsize() == 0:  # caught up with the live edge: anchor the SR clock
                    self._live = (timestamp, time.monotonic())
                self._last_timestamp = timestamp
                await self._send(au.nalus, timestamp)
        except SubscriberClosed:
            pass
        except (ConnectionError, OSError) as exc:
            reason = scrub(str(exc)) or type(exc).__name__
        except asyncio.CancelledError:
            reason = ""
            raise
        except Exception as exc:  # noqa: BLE001 - a session must never take the server down
            reason = f"internal error: {type(exc).__name__}"
            logger.exception("[%s] RTSP session %s failed", self.path, self.id)
        finally:
            self._release()
            if reason:
                self.state = SessionState.CLOSED
                self._on_end(self, reason)

    async def _send(self, nalus: tuple[bytes, ...], timestamp: int) -> None:
        stats = self.ctx.stats
        packet_filter = self.ctx.packet_filter
        payloads = []
        for packet in self.packetizer.packetize(nalus, timestamp):
            self.packets += 1
            self.octets += len(packet.payload)
            if packet_filter is not None and not packet_filter(self.path, packet):
                stats.packets_filtered += 1
                continue
            payloads.append(packet.serialize())
        assert self.sink is not None
        dropped = await self.sink.send_rtp(payloads)
        stats.packets_dropped += dropped
        stats.packets_out += len(payloads) - dropped
        stats.bytes_out += sum(len(p) for p in payloads) if not dropped else 0
        stats.access_units_out += 1
        now = time.monotonic()
        if now - self._last_sr >= self.ctx.settings.rtcp_interval and self._live is not None:
            self._last_sr = now
            self._send_sender_report(now, *self._live)

    def _send_sender_report(self, now: float, live_ts: int, live_time: float) -> None:
        """An SR mapping wall-clock now to the RTP clock, from the last live-edge picture."""
        rtp_now = (live_ts + int((now - live_time) * VIDEO_CLOCK_RATE)) & 0xFFFFFFFF
        report = build_sender_report(self.ssrc, ntp_now(), rtp_now, self.packets & 0xFFFFFFFF,
                                     self.octets & 0xFFFFFFFF, cname=_CNAME)
        assert self.sink is not None
        self.sink.send_rtcp(report)
        self.ctx.stats.rtcp_out += 1
