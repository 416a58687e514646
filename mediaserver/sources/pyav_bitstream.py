"""Turn demuxed PyAV packets into access units, and FFmpeg failures into hub errors.

Containers carry H.264/H.265 in two layouts: MP4/MKV/FLV store length-prefixed NAL units with
the parameter sets in ``avcC``/``hvcC`` extradata (ISO/IEC 14496-15 §5.3.3, §8.3.3); MPEG-TS,
RTSP and raw streams carry Annex-B with the parameter sets in-band. :class:`PacketConverter`
handles both without decoding, prepends the parameter sets to keyframes that lack them and
converts timestamps to the hub's 90 kHz clock.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Sequence
from fractions import Fraction

import av

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..errors import UnsupportedMedia, UpstreamAuthError, UpstreamError, UpstreamTimeout
from ..formats import video_processor
from ..formats.video import ParameterSets
from ..protocols.dts import DtsExtractor, reorder_depth_hint
from ..protocols.errors import ProtocolError
from ..protocols.nal import split_annexb
from ..redact import redact_url, scrub

logger = logging.getLogger(__name__)

#: FFmpeg codec names of the codecs the hub carries without transcoding.
CODECS = {"h264": "h264", "hevc": "h265"}
#: An access unit with more NAL units or bytes than this is malformed (dropped and counted).
MAX_NALUS = 256
MAX_AU_SIZE = 16 * 1024 * 1024

def _read_length_prefixed_list(data: bytes, pos: int, count: int) -> tuple[list[bytes], int]:
    items = []
    for _ in range(count):
        if pos + 2 > len(data):
            raise ValueError("truncated")
        size = int.from_bytes(data[pos:pos + 2], "big")
        pos += 2
        if size == 0 or pos + size > len(data):
            raise ValueError("truncated")
        items.append(data[pos:pos + size])
        pos += size
    return items, pos


def parse_extradata(codec: str, extradata: bytes | None) -> tuple[int | None, list[bytes]]:
    """Return ``(NAL length size or None for Annex-B, parameter set NAL units)``.

    Raises :class:`ValueError` on a truncated ``avcC``/``hvcC`` record.
    """
    if not extradata:
        return None, []
    if extradata[0] != 1:  # Annex-B extradata (MPEG-TS, RTSP sprop, raw streams)
        try:
            return None, split_annexb(extradata)
        except ProtocolError as exc:
            raise ValueError(str(exc)) from exc
    if codec == "h264":
        if len(extradata) < 7:
            raise ValueError("avcC record too short")
        length_size = (extradata[4] & 0x03) + 1
        sps, pos = _read_length_prefixed_list(extradata, 6, extradata[5] & 0x1F)
        if pos >= len(extradata):
            raise ValueError("avcC record has no PPS count")
        pps, _ = _read_length_prefixed_list(extradata, pos + 1, extradata[pos])
        return length_size, sps + pps
    if len(extradata) < 23:
        raise ValueError("hvcC record too short")
    length_size = (extradata[21] & 0x03) + 1
    nalus: list[bytes] = []
    pos = 23
    for _ in range(extradata[22]):
        if pos + 3 > len(extradata):
            raise ValueError("hvcC record truncated")
        count = int.from_bytes(extradata[pos + 1:pos + 3], "big")
        items, pos = _read_length_prefixed_list(extradata, pos + 3, count)
        nalus += items
    return length_size, nalus


def split_length_prefixed(data: bytes, length_size: int) -> list[bytes]:
    """Split an MP4-style sample into NAL units; ValueError when a length runs past the end."""
    nalus = []
    pos = 0
    end = len(data)
    while pos < end:
        if pos + length_size > end:
            raise ValueError("truncated NAL unit length")
        size = int.from_bytes(data[pos:pos + length_size], "big")
        pos += length_size
        if pos + size > end:
            raise ValueError("NAL unit length past the end of the sample")
        if size:
            nalus.append(data[pos:pos + size])
        pos += size
        if len(nalus) > MAX_NALUS:
            raise ValueError("too many NAL units")
    return nalus


class PacketConverter:
    """Converts the packets of one demuxed H.264/H.265 video stream into access units."""

    def __init__(self, stream: av.video.stream.VideoStream, label: str = "") -> None:
        ctx = stream.codec_context
        codec = CODECS.get(ctx.name)
        if codec is None:
            raise UnsupportedMedia(f"{label}: video codec {ctx.name} needs the transcoder "
                                   "(only H.264 and H.265 are relayed)")
        self.codec = codec
        self.processor = video_processor(codec)
        self.label = label
        try:
            self.length_size, sets = parse_extradata(codec, ctx.extradata)
        except ValueError as exc:
            raise UnsupportedMedia(f"{label}: malformed {codec} extradata: {exc}") from exc
        self._sets = ParameterSets(self.processor.kinds)
        self._learn(sets)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        self.fps = float(rate) if rate and 0 < rate <= 240 else None
        self.frame_ticks = round(VIDEO_CLOCK_RATE / self.fps) if self.fps else 3600
        tb = stream.time_base or Fraction(1, VIDEO_CLOCK_RATE)
        self._num = tb.numerator * VIDEO_CLOCK_RATE
        self._den = tb.denominator
        self.width = ctx.width or None
        self.height = ctx.height or None
        self._last_pts: int | None = None
        #: decode timestamps for demuxers that give none (RTSP: presentation times only)
        self._dts = DtsExtractor(reorder_depth_hint(codec, self._sets.sps),
                                 self.frame_ticks)
        self.track_changed = True
        self.malformed = 0

    def _learn(self, nalus: Sequence[bytes]) -> None:
        for nalu in nalus:
            if self._sets.remember(bytes(nalu)):
                self.track_changed = True

    @property
    def parameter_sets(self) -> tuple[bytes, ...]:
        return self._sets.known()

    def track(self) -> VideoTrack:
        """The current track; clears ``track_changed``."""
        self.track_changed = False
        return VideoTrack(self.codec, self.width, self.height, self.fps, self.parameter_sets)

    def to_90k(self, ticks: int) -> int:
        return ticks * self._num // self._den

    def convert(self, packet: av.Packet) -> AccessUnit | None:
        """One packet → one access unit; None (counted in ``malformed``) for a bad packet."""
        if packet.size > MAX_AU_SIZE:
            self.malformed += 1
            logger.debug("[%s] dropped a packet of %d bytes", self.label, packet.size)
            return None
        data = bytes(packet)
        try:
            if self.length_size is not None:
                nalus = split_length_prefixed(data, self.length_size)
            else:
                nalus = split_annexb(data)
                if len(nalus) > MAX_NALUS:
                    raise ValueError("too many NAL units")
        except (ValueError, ProtocolError) as exc:
            self.malformed += 1
            logger.debug("[%s] dropped a malformed packet: %s", self.label, exc)
            return None
        kinds = self.processor.kinds
        nalus = [n for n in nalus if kinds.kind(n) != kinds.aud]
        if not nalus:
            return None
        keyframe = kinds.is_keyframe(nalus)
        if keyframe:
            self._learn([n for n in nalus if kinds.is_parameter_set(n)])
            nalus = self.processor.with_parameter_sets(nalus, self._sets.known())
        pts, dts = self._timestamps(packet)
        return AccessUnit(nalus, pts, keyframe, self.codec, dts)

    def _timestamps(self, packet: av.Packet) -> tuple[int, int]:
        """(pts, dts) in 90 kHz: the packet's own, else derived."""
        ticks = packet.pts if packet.pts is not None else packet.dts
        if ticks is None:  # the first packets after an RTSP PLAY carry no timestamp
            pts = 0 if self._last_pts is None else self._last_pts + self.frame_ticks
        else:
            pts = self.to_90k(ticks)
        self._last_pts = pts
        if packet.dts is None:
            return pts, self._dts.extract(pts)
        return pts, min(pts, self.to_90k(packet.dts))


class LogBuffer:
    """The last lines of FFmpeg's log for one source, dumped (scrubbed) only on failure."""

    def __init__(self, max_lines: int = 100, max_line: int = 300) -> None:
        self.lines: collections.deque[str] = collections.deque(maxlen=max_lines)
        self.max_line = max_line

    def extend(self, captured: list[tuple[int, str, str]]) -> None:
        """Move records captured by ``av.logging.Capture`` into the buffer (empties the list)."""
        for _level, name, message in captured:
            self.lines.append(f"{name}: {message.strip()}"[: self.max_line])
        captured.clear()

    def dump(self, label: str) -> None:
        if self.lines:
            logger.warning("[%s] FFmpeg log before the failure:\n%s", label,
                           scrub("\n".join(self.lines)))


def map_av_error(exc: Exception, url: str, *, opening: bool) -> UpstreamError:
    """An :class:`UpstreamError` subclass for an FFmpeg failure, with a scrubbed message.

    The caller raises it ``from exc``. ``opening`` is true while the input is being opened
    (invalid data there means the URL serves no media the hub can read).
    """
    where = redact_url(url)
    reason = scrub(getattr(exc, "strerror", None) or str(exc) or type(exc).__name__)
    if isinstance(exc, av.error.HTTPUnauthorizedError | av.error.HTTPForbiddenError):
        return UpstreamAuthError(f"{where}: access refused ({reason})")
    if isinstance(exc, av.error.ExitError | av.error.TimeoutError | TimeoutError):
        return UpstreamTimeout(f"{where}: timed out ({reason})")
    if isinstance(exc, av.error.HTTPNotFoundError | FileNotFoundError):
        return UpstreamError(f"{where}: not found ({reason})")
    if opening and isinstance(exc, av.error.InvalidDataError):
        return UnsupportedMedia(f"{where}: not a media stream FFmpeg can read ({reason})")
    return UpstreamError(f"{where}: {reason}")
