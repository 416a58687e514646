"""Fragmented-MP4 clip writing by remuxing access units with PyAV (no transcode).

The file is written under a temporary name with one ``moof`` fragment per keyframe (or per
``fragment`` seconds) and each fragment flushed to the OS, so a crash mid-clip leaves a file
that plays up to its last fragment. :meth:`ClipWriter.close` fsyncs it, renames it into place
and fsyncs the directory; only then may anyone publish the path. Blocking: run in a thread.
"""

from __future__ import annotations

import os
import secrets
from fractions import Fraction
from pathlib import Path

import av

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..errors import ClipError
from ..formats import video_processor

_CODECS = {"h264": "h264", "h265": "hevc"}


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ClipWriter:
    """``w = ClipWriter(path, track); w.write(aus); ...; w.close()`` → the final path."""

    def __init__(self, path: Path, track: VideoTrack, *, fragment: float = 1.0) -> None:
        codec = _CODECS.get(track.codec)
        if codec is None:
            raise ClipError(f"cannot record codec {track.codec!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.stem}.{secrets.token_hex(4)}.part.mp4")
        self._track = track
        self._base: int | None = None
        self._last_dts: int | None = None
        self._pending: AccessUnit | None = None
        self.bytes = 0
        self.frames = 0
        frag_us = str(int(fragment * 1_000_000))
        try:
            self._container = av.open(str(self.tmp), "w", format="mp4", options={
                "movflags": "frag_keyframe+empty_moov+default_base_moof",
                "frag_duration": frag_us, "flush_packets": "1"})
            self._stream = self._container.add_stream(codec, rate=round(track.fps or 25))
        except av.FFmpegError as exc:
            raise ClipError(f"cannot open {self.tmp.name}: {exc}") from exc
        self._stream.width = track.width or 16
        self._stream.height = track.height or 16
        self._stream.time_base = Fraction(1, VIDEO_CLOCK_RATE)
        self._extradata_set = False

    def _set_extradata(self, au: AccessUnit) -> None:
        extradata = annexb_extradata(au, self._track)
        if extradata is None:
            raise ClipError("no parameter sets for the clip's first keyframe")
        self._stream.codec_context.extradata = extradata
        self._extradata_set = True

    def write(self, aus: list[AccessUnit]) -> None:
        for au in aus:
            if self._base is None:
                if not au.keyframe:
                    continue
                self._base = au.dts
                self._set_extradata(au)
            if self._last_dts is not None and au.dts <= self._last_dts:
                continue  # never a negative duration
            self._last_dts = au.dts
            if self._pending is not None:
                self._mux(self._pending, au.dts - self._pending.dts)
            self._pending = au

    def _mux(self, au: AccessUnit, duration: int) -> None:
        assert self._base is not None
        packet = video_packet(au, self._stream, self._base, duration)
        try:
            self._container.mux(packet)
        except av.FFmpegError as exc:
            raise ClipError(f"cannot write {self.tmp.name}: {exc}") from exc
        self.bytes += au.size
        self.frames += 1

    @property
    def seconds(self) -> float:
        if self._base is None or self._last_dts is None:
            return 0.0
        return (self._last_dts - self._base) / VIDEO_CLOCK_RATE

    def close(self) -> Path:
        """Finish, fsync, rename into place and fsync the directory; returns the path."""
        if self._pending is not None:
            self._mux(self._pending, VIDEO_CLOCK_RATE // round(self._track.fps or 25))
            self._pending = None
        try:
            self._container.close()
        except av.FFmpegError as exc:
            raise ClipError(f"cannot finish {self.tmp.name}: {exc}") from exc
        if self.frames == 0:
            self.tmp.unlink(missing_ok=True)
            raise ClipError("no keyframe arrived: empty clip")
        with open(self.tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(self.tmp, self.path)
        fsync_dir(self.path.parent)
        return self.path

    def abort(self) -> None:
        try:
            self._container.close()
        except Exception:  # noqa: BLE001 - best effort on the error path
            pass
        self.tmp.unlink(missing_ok=True)


def annexb_extradata(au: AccessUnit, track: VideoTrack) -> bytes | None:
    """Extradata for the mp4 muxer from a keyframe's parameter sets (else the track's), in
    Annex-B: the muxer turns it into avcC/hvcC and packets into length-prefixed NAL units."""
    sets = list(video_processor(au.codec).parameter_sets(au.nalus).values()) or \
        list(track.parameter_sets)
    return b"".join(b"\x00\x00\x00\x01" + n for n in sets) if sets else None


def video_packet(au: AccessUnit, stream: av.video.stream.VideoStream, base: int,
                 duration: int) -> av.Packet:
    """An access unit as a packet of ``stream`` (90 kHz time base), its timestamps less
    ``base``: PTS and DTS both, which differ with B-frames (see :class:`AccessUnit`)."""
    packet = av.Packet(au.annexb)
    packet.stream = stream
    packet.time_base = stream.time_base
    packet.pts = au.pts - base
    packet.dts = au.dts - base
    packet.duration = max(1, duration)
    packet.is_keyframe = au.keyframe
    return packet


def write_file_durably(path: Path, data: bytes) -> Path:
    """Temp file, fsync, rename, fsync the directory (blocking)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
    return path
