"""RTSP server sessions (RFC 2326 §A.2): the base every role shares and the reader role.

A :class:`ServerSession` belongs to the TCP connection that created it and has a random id.
:class:`ReaderSession` plays one stream: ``READY`` after SETUP, ``PLAYING`` after PLAY, back to
``READY`` on PAUSE, ``CLOSED`` after TEARDOWN. While playing, one sender task reads the
session's bounded subscriber, packetizes each access unit with the session's own packetizer
(its own SSRC and sequence numbers) and hands the packets to the sink; a sender report goes out
every few seconds. The publisher role (ANNOUNCE/RECORD) is
:class:`~mediaserver.egress.rtsp_publisher.PublisherSession`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import secrets
import time
from collections.abc import Callable

from ..core.access_unit import VIDEO_CLOCK_RATE
from ..core.subscriber import SubscriberClosed
from ..protocols.rtp import build_sender_report, ntp_now
from ..redact import scrub
from .rtsp_context import ServerContext, Subscription
from .rtsp_sdp import make_packetizer
from .rtsp_sinks import MediaSink

logger = logging.getLogger(__name__)

_CNAME = "fusionhub"
#: one nominal picture (25 fps) of the 90 kHz clock
_FRAME_TICKS = 3600


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
