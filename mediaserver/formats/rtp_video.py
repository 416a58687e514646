"""RTP of one H.264/H.265 video track → access units (shared by RTSP pull and RTSP push).

:class:`RtpVideoReceiver` parses RTP (counting unparsable packets and foreign payload types
as malformed), depacketizes it with the codec processor's depacketizer, tracks the parameter
sets by NAL kind (an SPS/PPS/VPS that changes updates the :class:`VideoTrack`, its size taken
from the SPS), unwraps the 32-bit RTP timestamps to 90 kHz pts, derives the decode timestamps
(:class:`~mediaserver.protocols.dts.DtsExtractor`: RTP carries presentation times, out of
order with B-frames) and hands every
:class:`AccessUnit` to its ``publish`` callback. The owners (the pull client, the push
publisher session) hold one and pass it their callbacks.
"""

from __future__ import annotations

from collections.abc import Callable

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..protocols.dts import DtsExtractor, reorder_depth_hint
from ..protocols.errors import ProtocolError
from ..protocols.rtp import RtpPacket
from ..protocols.rtsp.media import VideoFormat
from . import video_processor
from .video import ParameterSets


def parse_rtp(data: bytes, payload_type: int) -> RtpPacket | None:
    """The RTP packet of a track with ``payload_type``; None for anything else."""
    try:
        packet = RtpPacket.parse(data)
    except ProtocolError:
        return None
    return packet if packet.payload_type == payload_type else None


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
        self.processor = video_processor(fmt.codec)
        self.depacketizer = self.processor.depacketizer()
        self.packets = 0
        self.octets = 0
        self.malformed = 0
        self.frames = 0
        self._unwrap = TimestampUnwrap()
        self._dts: DtsExtractor | None = None  # made at the first unit, when the SPS is known
        self._sets = ParameterSets(self.processor.kinds, fmt.parameter_sets)
        self.track = VideoTrack(fmt.codec, fmt.width, fmt.height, fmt.fps, self._sets.known())

    # -- RTP --------------------------------------------------------------------------------

    def parse(self, data: bytes) -> RtpPacket | None:
        """The packet of this track, counted; None (counted as malformed) otherwise."""
        packet = parse_rtp(data, self.fmt.payload_type)
        if packet is None:
            self.malformed += 1
            return None
        self.packets += 1
        self.octets += len(data)
        return packet

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
            changed |= self._sets.remember(nalu)
        if changed:
            self._update_track()
        pts = self._unwrap.extend(timestamp) * VIDEO_CLOCK_RATE // self.fmt.clock_rate
        if self._dts is None:
            fps = self.track.fps or 25
            self._dts = DtsExtractor(reorder_depth_hint(self.fmt.codec, self._sets.sps),
                                     round(VIDEO_CLOCK_RATE / fps))
        dts = self._dts.extract(pts)
        if self._emit(AccessUnit(nalus, pts, keyframe, self.fmt.codec, dts)):
            self.frames += 1

    def _update_track(self) -> None:
        sps = self._sets.sps
        size = self.processor.size(sps) if sps is not None else None
        width, height, fps = size if size else (self.track.width, self.track.height, None)
        track = VideoTrack(self.fmt.codec, width, height, self.fmt.fps or fps or self.track.fps,
                           self._sets.known())
        if track != self.track:
            self.track = track
            if self._on_track is not None:
                self._on_track(track)
