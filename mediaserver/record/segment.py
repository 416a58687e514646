"""One continuous-recording segment: access units (and audio frames) remuxed into fragmented
MP4 with PyAV, never transcoded. Blocking: every method runs in a worker thread.

The file is ``ROOT/{source}/.open-{start_ms}.part.mp4`` while it is written; ffmpeg cuts a
fragment (``moof`` + ``mdat``) at every keyframe and every ``fragment`` seconds, and
:meth:`SegmentWriter.sync` fsyncs what has reached the file, so a ``kill -9`` loses at most
the fragment in progress. :meth:`SegmentWriter.close` finishes the file, fsyncs it and renames
it to its closed name (day folder, start, duration), then fsyncs the folder.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import av

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..core.audio import AudioFrame
from ..errors import SegmentError
from .clip import annexb_extradata, fsync_dir, video_packet
from .layout import Segment, closed_name, open_name

logger = logging.getLogger(__name__)

_VIDEO_CODECS = {"h264": "h264", "h265": "hevc"}
_AUDIO_CODECS = {"aac": "aac", "opus": "opus"}


@dataclass(frozen=True, slots=True)
class AudioFormat:
    codec: str
    sample_rate: int
    channels: int
    config: bytes


class _CountingFile:
    """The file PyAV writes to, counting what reached it (the rest is in the muxer)."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.written = 0

    def write(self, data: bytes) -> int:
        self.fh.write(data)
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        self.fh.flush()


class SegmentWriter:
    """``w = SegmentWriter(folder, start, track, audio)``; ``w.write(video, audio)``;
    ``w.sync()`` every few seconds; ``w.close(start)`` → the closed :class:`Segment`."""

    def __init__(self, folder: Path, start: float, track: VideoTrack,
                 audio: AudioFormat | None = None, *, fragment: float = 2.0) -> None:
        codec = _VIDEO_CODECS.get(track.codec)
        if codec is None:
            raise SegmentError(f"cannot record codec {track.codec!r}")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.tmp = folder / open_name(start)
        self._track = track
        #: dts of the first keyframe: the file's time zero (DTS starts at 0, PTS at or above)
        self._base: int | None = None
        self._first_pts: int | None = None
        self._last_dts: int | None = None
        self._pending: AccessUnit | None = None
        self._audio_last = -1
        self.bytes_in = 0
        self.frames = 0
        self.audio_frames = 0
        self._fh = open(self.tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._file = _CountingFile(self._fh)
        try:
            self._container = av.open(self._file, "w", format="mp4", options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": str(int(fragment * 1_000_000)),
                "max_interleave_delta": "500000", "flush_packets": "1"})
            self._video = self._container.add_stream(codec, rate=round(track.fps or 25))
            self._video.width = track.width or 16
            self._video.height = track.height or 16
            self._video.time_base = Fraction(1, VIDEO_CLOCK_RATE)
            self._audio = None
            if audio is not None and audio.codec in _AUDIO_CODECS:
                self._audio = self._container.add_stream(_AUDIO_CODECS[audio.codec],
                                                         rate=audio.sample_rate)
                self._audio.codec_context.layout = "stereo" if audio.channels == 2 else "mono"
                self._audio.time_base = Fraction(1, audio.sample_rate)
                if audio.config:
                    self._audio.codec_context.extradata = audio.config
                self._audio_rate = audio.sample_rate
        except (av.FFmpegError, ValueError) as exc:
            self._fh.close()
            self.tmp.unlink(missing_ok=True)
            raise SegmentError(f"cannot open {self.tmp.name}: {exc}") from exc

    @property
    def has_audio(self) -> bool:
        return self._audio is not None

    @property
    def buffered(self) -> int:
        """Bytes muxed but not yet in the file (the fragment in progress)."""
        return max(0, self.bytes_in - self._file.written)

    @property
    def first_pts(self) -> int | None:
        return self._first_pts

    @property
    def seconds(self) -> float:
        if self._base is None or self._last_dts is None:
            return 0.0
        return (self._last_dts - self._base) / VIDEO_CLOCK_RATE

    def write(self, video: list[AccessUnit], audio: list[tuple[int, AudioFrame]] = ()) -> None:
        """Mux access units (the first must be a keyframe) and audio frames given with their
        position on the video clock (90 kHz). Timestamps going backwards are dropped."""
        audio_iter = iter(sorted(audio, key=lambda x: x[0]))
        next_audio = next(audio_iter, None)
        for au in video:
            while next_audio is not None and self._base is not None and \
                    next_audio[0] <= au.dts:
                self._mux_audio(*next_audio)
                next_audio = next(audio_iter, None)
            self._add_video(au)
        while next_audio is not None:
            self._mux_audio(*next_audio)
            next_audio = next(audio_iter, None)

    def _add_video(self, au: AccessUnit) -> None:
        if self._base is None:
            if not au.keyframe:
                return
            self._base = au.dts
            self._first_pts = au.pts
            extradata = annexb_extradata(au, self._track)
            if extradata is None:
                raise SegmentError("no parameter sets for the segment's first keyframe")
            self._video.codec_context.extradata = extradata
        if self._last_dts is not None and au.dts <= self._last_dts:
            return  # never a negative duration (decode order: dts increases, see AccessUnit)
        self._last_dts = au.dts
        if self._pending is not None:
            self._mux_video(self._pending, au.dts - self._pending.dts)
        self._pending = au

    def _mux_video(self, au: AccessUnit, duration: int) -> None:
        assert self._base is not None
        self._mux(video_packet(au, self._video, self._base, duration))
        self.bytes_in += au.size
        self.frames += 1

    def _mux_audio(self, at: int, frame: AudioFrame) -> None:
        if self._audio is None or self._base is None:
            return
        pts = (at - self._base) * self._audio_rate // VIDEO_CLOCK_RATE
        if pts <= self._audio_last:
            pts = self._audio_last + 1
            if pts < 0:
                return
        if pts < 0:
            return
        self._audio_last = pts
        packet = av.Packet(frame.data)
        packet.stream = self._audio
        packet.time_base = self._audio.time_base
        packet.pts = packet.dts = pts
        self._mux(packet)
        self.bytes_in += len(frame.data)
        self.audio_frames += 1

    def _mux(self, packet: av.Packet) -> None:
        try:
            self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            raise SegmentError(f"cannot write {self.tmp.name}: {exc}") from exc

    def sync(self) -> None:
        """Flush what the muxer has handed over and fsync it (complete fragments survive)."""
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise SegmentError(f"cannot fsync {self.tmp.name}: {exc}") from exc

    def close(self, start: float) -> Segment | None:
        """Finish, fsync, rename to the closed name under the day folder; None when empty."""
        if self._pending is not None:
            self._mux_video(self._pending, VIDEO_CLOCK_RATE // round(self._track.fps or 25))
            self._pending = None
        try:
            self._container.close()
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except (av.FFmpegError, OSError) as exc:
            self._fh.close()
            raise SegmentError(f"cannot finish {self.tmp.name}: {exc}") from exc
        finally:
            if not self._fh.closed:
                self._fh.close()
        if self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            return None
        fps = self._track.fps or 25
        duration = self.seconds + 1 / fps
        return finish_segment(self.tmp, self.folder, start, duration)

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - best effort on the error path
            pass
        self._fh.close()
        self.tmp.unlink(missing_ok=True)


def finish_segment(tmp: Path, folder: Path, start: float, duration: float) -> Segment:
    """Rename a written ``.open-*`` file into its day folder under its closed name."""
    size = tmp.stat().st_size
    day, name = closed_name(start, duration, size)
    target_dir = folder / day
    target_dir.mkdir(exist_ok=True)
    target = target_dir / name
    os.replace(tmp, target)
    fsync_dir(target_dir)
    fsync_dir(folder)
    return Segment.at(target, start, start + duration, size)
