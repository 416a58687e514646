"""Playback and export: the segments covering a time range remuxed (never transcoded) into one
MP4 that starts at the keyframe at or before ``from`` and ends at ``to``. Gaps are skipped,
so the output's timeline is the recorded time only. Blocking: run in a thread.

``fragmented=True`` writes fragmented MP4 to any object with ``write()`` (streamed to a
browser's ``<video>`` as it is produced); ``fragmented=False`` writes a regular MP4 file with
the ``moov`` first (exports) and the source and time range in its metadata.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from ..errors import FusionhubError
from .layout import Segment

logger = logging.getLogger(__name__)


class RemuxError(FusionhubError):
    """Nothing could be remuxed (no recording in the range, unreadable files)."""


@dataclass
class RemuxResult:
    start: float | None = None
    end: float | None = None
    frames: int = 0
    bytes_in: int = 0
    spans: list[tuple[float, float]] = field(default_factory=list)


def iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def start_keyframe(seg: Segment, t0: float) -> tuple[int, float] | None:
    """(pts, wall time) of the last keyframe at or before t0 in a segment (its first keyframe
    when t0 is before all of them); None when it has no video. Blocking."""
    with av.open(str(seg.path)) as container:
        if not container.streams.video:
            return None
        video = container.streams.video[0]
        chosen = None
        first: int | None = None
        for packet in _packets(container, video):
            if packet.pts is None:
                continue
            first = packet.pts if first is None else first
            if not packet.is_keyframe:
                continue
            wall = seg.start + float((packet.pts - first) * video.time_base)
            if chosen is not None and wall > t0:
                break
            chosen = (packet.pts, wall)
        return chosen


def _packets(container: Any, *streams: Any) -> Iterator[Any]:
    """Demuxed packets; a file still being written (the open segment) ends where its last
    complete fragment does."""
    try:
        yield from container.demux(*streams)
    except av.FFmpegError as exc:
        logger.debug("%s: demuxing stopped: %s", container.name, exc)


class _Output:
    def __init__(self, target: Any, fragmented: bool, metadata: dict[str, str]) -> None:
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof",
                   "frag_duration": "1000000", "flush_packets": "1"} if fragmented \
            else {"movflags": "faststart"}
        self.container = av.open(target if not isinstance(target, Path) else str(target), "w",
                                 format="mp4", options=options)
        self.container.metadata.update(metadata)
        self.video: Any = None
        self.audio: Any = None
        self.signature: tuple[Any, ...] | None = None
        #: last pts muxed per output stream (timestamps must increase)
        self.last: dict[int, int] = {}

    def setup(self, vin: Any, ain: Any) -> None:
        self.video = self.container.add_stream_from_template(vin)
        self.video.time_base = Fraction(1, 90_000)
        if ain is not None:
            self.audio = self.container.add_stream_from_template(ain)
            self.audio.time_base = ain.time_base
        self.signature = _signature(vin, ain)  # ain is None when there is no audio


def _signature(vin: Any, ain: Any) -> tuple[Any, ...]:
    v = vin.codec_context
    return (v.name, v.width, v.height, bytes(v.extradata or b""),
            ain.codec_context.name if ain is not None else None)


def remux(segments: list[Segment], t0: float, t1: float, target: Any, *, fragmented: bool,
          metadata: dict[str, str] | None = None,
          stopped: Callable[[], bool] = lambda: False) -> RemuxResult:
    """Remux ``segments`` (oldest first) over [t0, t1] into ``target``; RemuxError when the
    range holds no video. ``stopped()`` is polled per packet (a viewer went away)."""
    result = RemuxResult()
    out: _Output | None = None
    out_next = 0.0  # output seconds where the next segment's first packet goes
    try:
        for seg in sorted(segments, key=lambda s: s.start):
            if seg.end <= t0 or seg.start >= t1:
                continue
            if stopped():
                break
            try:
                found = start_keyframe(seg, t0) if result.start is None else None
                first_key = found[0] if found is not None else None
                container = av.open(str(seg.path))
            except (av.FFmpegError, OSError) as exc:
                logger.warning("skipping unreadable segment %s: %s", seg.path.name, exc)
                continue
            with container:
                if not container.streams.video:
                    continue
                vin = container.streams.video[0]
                ain = container.streams.audio[0] if container.streams.audio else None
                if out is None:
                    out = _Output(target, fragmented, metadata or {})
                    out.setup(vin, ain)
                elif _signature(vin, ain if out.audio is not None else None) != out.signature:
                    logger.info("codec parameters change at %s: output ends there",
                                seg.path.name)
                    break
                end = _copy(container, vin, ain if out.audio is not None else None, seg, t0, t1,
                            first_key, out, out_next, result, stopped)
                if end is None:
                    continue
                out_next = end
        if out is None or result.frames == 0:
            raise RemuxError("no recording in the requested range")
        out.container.close()
        out = None
    finally:
        if out is not None:
            try:
                out.container.close()
            except Exception:  # noqa: BLE001 - the error that got us here matters more
                pass
    return result


def _copy(container: Any, vin: Any, ain: Any, seg: Segment, t0: float, t1: float,
          first_key: int | None, out: _Output, out_next: float, result: RemuxResult,
          stopped: Callable[[], bool]) -> float | None:
    """Copy one segment's packets in range; returns the output time after its last packet."""
    streams = [vin] + ([ain] if ain is not None else [])
    firsts: dict[int, int] = {}
    base_wall: float | None = None
    last_end: float | None = None
    started = result.start is not None
    span_start: float | None = None
    for packet in _packets(container, *streams):
        if packet.pts is None or packet.size == 0:
            continue
        if stopped():
            break
        index = packet.stream.index
        firsts.setdefault(index, packet.pts)
        # audio and video share a segment's wall clock: both start at its start
        wall = seg.start + float((packet.pts - firsts[index]) * packet.stream.time_base)
        is_video = packet.stream is vin
        if is_video:
            if not started:
                if first_key is None or packet.pts < first_key or not packet.is_keyframe:
                    continue
                started = True
                result.start = wall
            if wall >= t1:
                break
            if base_wall is None:
                if not packet.is_keyframe:
                    continue  # a later segment also starts at a keyframe
                base_wall = wall
                span_start = wall
        elif base_wall is None or wall < base_wall or wall >= t1:
            continue
        ts = out_next + (wall - base_wall)
        duration = float((packet.duration or 0) * packet.stream.time_base)
        ostream = out.video if is_video else out.audio
        pts = int(round(ts / ostream.time_base))
        last = out.last.get(ostream.index)
        if last is not None and pts <= last:
            if not is_video:
                continue  # audio that ran past the previous segment's last picture
            pts = last + 1
        out.last[ostream.index] = pts
        packet.stream = ostream
        packet.time_base = ostream.time_base
        packet.pts = packet.dts = pts
        if duration:
            packet.duration = max(1, int(round(duration / ostream.time_base)))
        out.container.mux(packet)
        result.bytes_in += packet.size
        if is_video:
            result.frames += 1
            result.end = wall + duration
            last_end = ts + duration
    if base_wall is None or last_end is None:
        return None
    if span_start is not None and result.end is not None:
        if result.spans and span_start - result.spans[-1][1] <= 1.0:
            result.spans[-1] = (result.spans[-1][0], result.end)
        else:
            result.spans.append((span_start, result.end))
    return last_end


def export_metadata(source_id: str, name: str, t0: float, t1: float) -> dict[str, str]:
    return {"title": f"{name or source_id} {iso(t0)} - {iso(t1)}",
            "comment": f"fusionhub recording of source {source_id} from {iso(t0)} to {iso(t1)}",
            "creation_time": iso(t0), "artist": source_id}
