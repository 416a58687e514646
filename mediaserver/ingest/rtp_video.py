"""RTP of one H.264/H.265 video track → access units (shared by RTSP pull and RTSP push).

:class:`RtpVideoReceiver` parses RTP (counting unparsable packets and foreign payload types
as malformed), depacketizes it with the :mod:`mediaserver.protocols` depacketizers, tracks the
parameter sets by NAL kind (an SPS/PPS/VPS that changes updates the :class:`VideoTrack`, its
size taken from the SPS), unwraps the 32-bit RTP timestamps to 90 kHz pts, derives the
decode timestamps (:class:`~mediaserver.protocols.dts.DtsExtractor`: RTP carries presentation
times, out of order with B-frames) and hands every :class:`AccessUnit` to its ``publish``
callback. The owners (the pull client, the push publisher session) subclass or wrap it for
their own counters and session handling.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..protocols.dts import DtsExtractor, reorder_depth_hint
from ..protocols.errors import ProtocolError
from ..protocols.h264 import H264Depacketizer
from ..protocols.h265 import H265Depacketizer
from ..protocols.rtp import RtpPacket
from ..protocols.rtsp.media import VideoFormat, sps_size

#: NAL kind -> index of the parameter set in the track's list, per codec
PARAMETER_SETS = {"h264": {7: 0, 8: 1}, "h265": {32: 0, 33: 1, 34: 2}}


class TimestampUnwrap:
    """Extends 32-bit RTP timestamps to a monotonic-ish 64-bit count."""

    __slots__ = ("_ext", "_last")

    def __init__(self) -> None:
        self._last: int | None = None
        self._ext = 0

    def extend(self, timestamp: int) -> int:
        if self._last is None:
            self._last = timestamp
        delta = (timestamp - self._last) & 0xFFFFFFFF
        self._ext += delta - (1 << 32) if delta >= 1 << 31 else delta
        self._last = timestamp
        return self._ext


class RtpVideoReceiver:
    """RTP of one video track → access units handed to ``publish``.

    ``publish(access_unit)`` returns False when the unit was not taken (it is then not counted
    in :attr:`frames`); ``on_track(track)`` is called when a changed parameter set changes the
    track. Counters: ``packets``, ``octets``, ``malformed``, ``frames``.
    """

    def __init__(self, fmt: VideoFormat, publish: Callable[[AccessUnit], bool],
                 on_track: Callable[[VideoTrack], None] | None = None) -> None:
        self.fmt = fmt
        self._emit = publish
        self._on_track = on_track
        self.depacketizer = (H265Depacketizer() if fmt.codec == "h265"
                             else H264Depacketizer())
        self.packets = 0
        self.octets = 0
        self.malformed = 0
        self.frames = 0
        self._unwrap = TimestampUnwrap()
        self._dts: DtsExtractor | None = None  # made at the first unit, when the SPS is known
        self._sets: list[bytes | None] = [None] * len(PARAMETER_SETS[fmt.codec])
        for nalu in fmt.parameter_sets:
            self._remember(nalu)
        self.track = VideoTrack(fmt.codec, fmt.width, fmt.height, fmt.fps, self._known_sets())

    # -- RTP --------------------------------------------------------------------------------

    def parse(self, data: bytes) -> RtpPacket | None:
        """The packet of this track, counted; None (counted as malformed) otherwise."""
        try:
            packet = RtpPacket.parse(data)
        except ProtocolError:
            self._count_malformed()
            return None
        if packet.payload_type != self.fmt.payload_type:
            self._count_malformed()
            return None
        self._count_packet(len(data))
        return packet

    def _count_malformed(self) -> None:
        self.malformed += 1

    def _count_packet(self, size: int) -> None:
        self.packets += 1
        self.octets += size

    def on_rtp(self, data: bytes) -> None:
        packet = self.parse(data)
        if packet is not None:
            self.depacketize(packet)

    def depacketize(self, packet: RtpPacket) -> None:
        for frame in self.depacketizer.push(packet):
            self._publish(frame.nalus, frame.timestamp, frame.keyframe)

    # -- access units -----------------------------------------------------------------------

    def _publish(self, nalus: list[bytes], timestamp: int, keyframe: bool) -> None:
        changed = False
        for nalu in nalus:
            changed |= self._remember(nalu)
        if changed:
            self._update_track()
        pts = self._unwrap.extend(timestamp) * VIDEO_CLOCK_RATE // self.fmt.clock_rate
        if self._dts is None:
            fps = self.track.fps or 25
            self._dts = DtsExtractor(reorder_depth_hint(self.fmt.codec, self._sps()),
                                     round(VIDEO_CLOCK_RATE / fps))
        dts = self._dts.extract(pts)
        if self._emit(AccessUnit(nalus, pts, keyframe, self.fmt.codec, dts)):
            self.frames += 1

    def _kind(self, nalu: bytes) -> int:
        return (nalu[0] >> 1) & 0x3F if self.fmt.codec == "h265" else nalu[0] & 0x1F

    def _remember(self, nalu: bytes) -> bool:
        """Store a parameter set; True when it is new (a changed SPS/PPS/VPS)."""
        index = PARAMETER_SETS[self.fmt.codec].get(self._kind(nalu)) if nalu else None
        if index is None or self._sets[index] == nalu:
            return False
        self._sets[index] = nalu
        return True

    def _known_sets(self) -> tuple[bytes, ...]:
        return tuple(s for s in self._sets if s is not None)

    def _sps(self) -> bytes | None:
        return self._sets[1 if self.fmt.codec == "h265" else 0]

    def _update_track(self) -> None:
        sps = self._sps()
        size = sps_size(self.fmt.codec, sps) if sps is not None else None
        width, height, fps = size if size else (self.track.width, self.track.height, None)
        track = VideoTrack(self.fmt.codec, width, height, self.fmt.fps or fps or self.track.fps,
                           self._known_sets())
        if track != self.track:
            self.track = track
            if self._on_track is not None:
                self._on_track(track)
