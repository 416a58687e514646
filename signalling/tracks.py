"""A video track that feeds aiortc encoded H.264 access units from a Subscriber (no decoding).

aiortc 1.16 ``RTCRtpSender._next_encoded_frame`` hands anything that is not an ``av.Frame`` to
``H264Encoder.pack``, which splits the Annex-B bytes into NAL units, packetizes them (STAP-A /
FU-A) and converts ``pts`` from ``time_base`` to the 90 kHz RTP clock. So :meth:`recv` returns an
``av.Packet`` carrying ``AccessUnit.annexb`` with a 90 kHz pts, which is never None (a None pts
kills the sender task with nothing but a log line).
"""

from __future__ import annotations

import asyncio
import logging
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediaserver.core.access_unit import VIDEO_CLOCK_RATE, AccessUnit
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SubscriberClosed

logger = logging.getLogger(__name__)

TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
#: Pictures already queued when the viewer starts (the GOP cache and whatever arrived during
#: ICE/DTLS) are sent as a paced catch-up instead of one burst: at most this many bits/s, and at
#: least :data:`CATCH_UP_STEP` apart. Their timestamps follow the pacing, so the viewer plays the
#: backlog fast and is live after it instead of staying one GOP behind, and a large GOP does not
#: overflow socket buffers or aiortc's 128-packet retransmission history in one burst.
CATCH_UP_BITRATE = 20_000_000
CATCH_UP_STEP = VIDEO_CLOCK_RATE // 1000  # 1 ms


class PacketVideoTrack(MediaStreamTrack):
    """Relays a Subscriber's H.264 access units to one aiortc sender as ``av.Packet``.

    Timestamps are rebased so each viewer starts at 0; the backlog found queued at the first
    :meth:`recv` is paced out at ``catch_up_bitrate`` with matching timestamps, live pictures
    then keep their real spacing. When the subscriber closes (viewer removed, source gone) the
    track ends with :class:`MediaStreamError`, which ends aiortc's sender loop.
    """

    kind = "video"

    def __init__(self, subscriber: Subscriber, *, catch_up: bool = True,
                 catch_up_bitrate: float = CATCH_UP_BITRATE) -> None:
        super().__init__()
        self.subscriber = subscriber
        self._catch_up = catch_up
        self._catch_up_bitrate = catch_up_bitrate
        self._started = False
        self._backlog = 0
        self._gap = 0.0  # seconds the previous backlog picture occupies at the catch-up rate
        self._sent_at = 0.0
        self._last_in: int | None = None
        self._last_out = 0
        self._dropped_at_start = 0
        #: access units and payload bytes handed to the sender
        self.frames_sent = 0
        self.bytes_sent = 0
        self.keyframes_sent = 0
        #: True once the track ended because its subscriber closed (source gone / removed)
        self.ended_by_source = False

    async def recv(self) -> av.Packet:
        au, pts = await self.next_unit()
        packet = av.Packet(au.annexb)
        packet.pts = pts
        packet.dts = pts - (au.pts - au.dts)
        packet.time_base = TIME_BASE
        packet.is_keyframe = au.keyframe
        return packet

    async def next_unit(self) -> tuple[AccessUnit, int]:
        """The next access unit and its rebased 90 kHz timestamp, paced during the catch-up."""
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        loop = asyncio.get_running_loop()
        if not self._started:
            self._started = True
            self._backlog = self.subscriber.qsize() if self._catch_up else 0
            self._dropped_at_start = self.subscriber.dropped
        elif self._backlog and self.subscriber.dropped != self._dropped_at_start:
            self._backlog = 0  # the queue overflowed: what was queued is gone
        pacing = self._backlog > 0 and self._last_in is not None
        if pacing:
            delay = self._sent_at + self._gap - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
        try:
            au = await self.subscriber.recv()
        except SubscriberClosed:
            self.ended_by_source = True
            self.stop()
            raise MediaStreamError("subscriber closed") from None
        if au.codec != "h264":
            self.stop()
            raise MediaStreamError(f"cannot relay {au.codec} as H.264")
        # the outgoing clock follows decode order; the RTP timestamp is the presentation
        # time (RFC 6184), out of order with B-frames
        dts = self._next_pts(au.dts, pacing)
        if self._backlog > 0:
            self._backlog -= 1
        self._gap = max(CATCH_UP_STEP / VIDEO_CLOCK_RATE, au.size * 8 / self._catch_up_bitrate)
        self._sent_at = loop.time()
        pts = dts + au.pts - au.dts  # presentation time on the outgoing clock
        self.frames_sent += 1
        self.bytes_sent += au.size
        self.keyframes_sent += au.keyframe
        return au, pts

    def restart_catch_up(self) -> None:
        """Pace out what is queued now as a new catch-up (a viewer restarted from the GOP)."""
        self._started = False

    def _next_pts(self, pts_in: int, pacing: bool) -> int:
        if self._last_in is None:
            out = 0
        elif pacing:
            out = self._last_out + max(1, round(self._gap * VIDEO_CLOCK_RATE))
        else:
            out = self._last_out + max(1, pts_in - self._last_in)
        self._last_in = pts_in
        self._last_out = out
        return out
