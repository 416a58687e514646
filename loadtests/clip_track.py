"""A pre-encoded H.264 clip as an aiortc video track: no encoding per publisher.

aiortc 1.16 ``RTCRtpSender._next_encoded_frame`` hands anything that is not an ``av.Frame`` to
``H264Encoder.pack``, which splits Annex-B bytes into NAL units, packetizes them (STAP-A /
FU-A) and converts ``pts`` from ``time_base`` to the 90 kHz RTP clock (the WHEP relay uses the
same path, :mod:`signalling.tracks`). :class:`ClipFrames` reads a clip once
(:func:`mediaserver.sources.pyav_file.load_clip`: first keyframe first, parameter sets on every
keyframe) and keeps each picture's Annex-B bytes; every :class:`ClipTrack` of a process shares
them and replays them in real time, looped, with increasing timestamps. A publisher's keyframe
requests (PLI) cannot be honoured on this path: the clip's own GOP (2 s) brings keyframes.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from mediaserver.core.access_unit import VIDEO_CLOCK_RATE
from mediaserver.sources.pyav_file import load_clip

TIME_BASE = Fraction(1, VIDEO_CLOCK_RATE)
#: a track more than this late re-anchors its clock instead of bursting to catch up
MAX_LATE = 1.0


@dataclass(frozen=True, slots=True)
class ClipFrames:
    """One clip's pictures, ready to send: ``(annexb, pts, keyframe)``, pts 90 kHz from 0."""

    frames: tuple[tuple[bytes, int, bool], ...]
    #: pts distance between two loops (the clip's span plus one frame)
    period: int
    width: int | None
    height: int | None

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ClipFrames:
        """Read ``path`` (blocking: run it in a thread); H.264 only."""
        clip = load_clip(path)
        if clip.track.codec != "h264":
            raise ValueError(f"{path}: WHIP publishers send H.264, not {clip.track.codec}")
        return cls(tuple((au.annexb, au.pts, au.keyframe) for au in clip.aus), clip.period,
                   clip.track.width, clip.track.height)

    @property
    def bitrate(self) -> float:
        """Average bits per second of the clip."""
        return sum(len(f[0]) for f in self.frames) * 8 * VIDEO_CLOCK_RATE / self.period


class ClipTrack(MediaStreamTrack):
    """Sends a :class:`ClipFrames` from its first keyframe, paced by pts against the loop
    clock, looping forever (the sender stops it when the peer connection closes)."""

    kind = "video"

    def __init__(self, clip: ClipFrames) -> None:
        super().__init__()
        self.clip = clip
        self._index = 0
        self._offset = 0
        self._start: float | None = None
        self.frames_sent = 0
        self.bytes_sent = 0
        self.keyframes_sent = 0
        self.late_resyncs = 0

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError("track ended")
        loop = asyncio.get_running_loop()
        data, pts, keyframe = self.clip.frames[self._index]
        pts += self._offset
        if self._start is None:
            self._start = loop.time()
        delay = self._start + pts / VIDEO_CLOCK_RATE - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -MAX_LATE:
            self._start -= delay  # this picture is due now: no burst of the backlog
            self.late_resyncs += 1
        self._index += 1
        if self._index == len(self.clip.frames):
            self._index = 0
            self._offset += self.clip.period
        packet = av.Packet(data)
        packet.pts = packet.dts = pts
        packet.time_base = TIME_BASE
        packet.is_keyframe = keyframe
        self.frames_sent += 1
        self.bytes_sent += len(data)
        self.keyframes_sent += keyframe
        return packet
