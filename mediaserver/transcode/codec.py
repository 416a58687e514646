"""PyAV decode → scale → libx264 encode. Blocking: every method runs on a transcoder's own
thread, never on the event loop.

:class:`Decoder` turns access units (H.264 / H.265) into pictures; :class:`H264Encoder` turns
pictures (from a decoder, or from aiortc's VP8 decoder for WHIP) into H.264 access units:
constrained baseline (every WebRTC peer decodes it), no B-frames, ``tune=zerolatency``, a
keyframe every ``gop`` seconds with SPS/PPS in-band, ABR at the profile's bitrate.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from fractions import Fraction

import av

from mediaserver.config.transcode import TranscodeProfile
from mediaserver.core.access_unit import VIDEO_CLOCK_RATE, AccessUnit
from mediaserver.errors import UnsupportedMedia
from mediaserver.protocols.nal import split_annexb

logger = logging.getLogger(__name__)

TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
_DECODERS = {"h264": "h264", "h265": "hevc", "vp8": "vp8"}


@dataclass(slots=True)
class CodecStats:
    """Counters written by the codec thread, read by metrics (plain ints: a torn read is fine)."""

    decoded: int = 0
    encoded: int = 0
    skipped: int = 0  # pictures dropped by the frame-rate cap
    errors: int = 0  # access units the decoder rejected
    cpu_seconds: float = 0.0  # thread CPU time spent decoding, scaling and encoding


class Decoder:
    """Decodes one source codec; errors are counted, the decoder keeps its state."""

    def __init__(self, codec: str, source_id: str, stats: CodecStats) -> None:
        if codec not in _DECODERS:
            raise UnsupportedMedia(f"cannot transcode from {codec}")
        self.codec = codec
        self._ctx = av.CodecContext.create(_DECODERS[codec], "r")
        self._source_id = source_id
        self._stats = stats

    def decode(self, data: bytes, pts: int) -> list[av.VideoFrame]:
        packet = av.Packet(data)
        packet.pts = pts
        packet.time_base = TIME_BASE
        try:
            frames = self._ctx.decode(packet)
        except av.FFmpegError as exc:
            self._stats.errors += 1
            logger.debug("[%s] decode error: %s", self._source_id, exc)
            return []
        for frame in frames:
            if frame.pts is None:
                frame.pts = pts
        self._stats.decoded += len(frames)
        return frames


def _even(value: int) -> int:
    return max(2, value - value % 2)


class H264Encoder:
    """Scales pictures to the profile and encodes them; opened at the first picture."""

    def __init__(self, profile: TranscodeProfile, source_id: str, stats: CodecStats, *,
                 threads: int = 1) -> None:
        self.profile = profile
        self._source_id = source_id
        self._stats = stats
        self._threads = threads
        self._ctx: av.VideoCodecContext | None = None
        self._next_due: float | None = None
        self._step = VIDEO_CLOCK_RATE / profile.fps if profile.fps else 0.0
        self.width = 0
        self.height = 0
        #: set from the event loop (a viewer's PLI), read by the codec thread at the next picture
        self.keyframe_wanted = False

    def request_keyframe(self) -> bool:
        """Make the next encoded picture a keyframe (for every viewer of the profile)."""
        self.keyframe_wanted = True
        return True

    def _open(self, frame: av.VideoFrame) -> av.VideoCodecContext:
        p = self.profile
        if p.width and p.height:
            self.width, self.height = _even(p.width), _even(p.height)
        else:
            self.width, self.height = _even(frame.width), _even(frame.height)
        fps = p.fps or 25.0
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height = self.width, self.height
        ctx.pix_fmt = "yuv420p"
        ctx.time_base = TIME_BASE
        ctx.framerate = Fraction(fps).limit_denominator(1000)
        ctx.bit_rate = p.bitrate
        ctx.thread_count = self._threads
        keyint = max(1, round(p.gop * fps))
        ctx.options = {
            "preset": p.preset, "tune": "zerolatency", "profile": "baseline",
            "x264-params": (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:bframes=0:"
                            f"repeat-headers=1:vbv-maxrate={p.bitrate // 1000}:"
                            f"vbv-bufsize={p.bitrate // 1000}"),
        }
        ctx.open()
        logger.info("[%s] x264 %dx%d @ %.3g fps, %d kbit/s", self._source_id, self.width,
                    self.height, fps, p.bitrate // 1000)
        return ctx

    def encode(self, frame: av.VideoFrame, pts: int) -> list[AccessUnit]:
        """One picture in (90 kHz ``pts``), zero or more H.264 access units out."""
        if self._step:
            # frame-rate cap: keep a picture when it is due (a jump back or far ahead resyncs)
            due = self._next_due
            if due is not None and due - self._step * 1.05 < pts < due - self._step * 0.1:
                self._stats.skipped += 1
                return []
            self._next_due = (due + self._step if due is not None and abs(pts - due)
                              < self._step else pts + self._step)
        if self._ctx is None:
            self._ctx = self._open(frame)
        if frame.width != self.width or frame.height != self.height or \
                frame.format.name != "yuv420p":
            frame = frame.reformat(width=self.width, height=self.height, format="yuv420p")
        frame.pts = pts
        frame.time_base = TIME_BASE
        frame.pict_type = av.video.frame.PictureType.NONE
        if self.keyframe_wanted:
            self.keyframe_wanted = False
            frame.pict_type = av.video.frame.PictureType.I
        out = []
        for packet in self._ctx.encode(frame):
            nalus = split_annexb(bytes(packet))
            if not nalus:
                continue
            out.append(AccessUnit(nalus, int(packet.pts if packet.pts is not None else pts),
                                  bool(packet.is_keyframe), "h264"))
        self._stats.encoded += len(out)
        return out


class TranscodePipeline:
    """Decoder + encoder for one transcoder; :meth:`process` runs on its thread."""

    def __init__(self, source_codec: str, profile: TranscodeProfile, source_id: str, *,
                 threads: int = 1, stats: CodecStats | None = None) -> None:
        self.stats = stats if stats is not None else CodecStats()
        self.decoder = Decoder(source_codec, source_id, self.stats)
        self.encoder = H264Encoder(profile, source_id, self.stats, threads=threads)

    def process(self, au: AccessUnit) -> list[AccessUnit]:
        started = time.thread_time()
        try:
            out: list[AccessUnit] = []
            for frame in self.decoder.decode(au.annexb, au.pts):
                out.extend(self.encoder.encode(frame, frame.pts if frame.pts is not None
                                               else au.pts))
            return out
        finally:
            self.stats.cpu_seconds += time.thread_time() - started
