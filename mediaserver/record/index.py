"""The index of recorded time ranges: per (source, UTC day) the sorted segments of that day's
folder, read from its listing when first asked (names carry start and duration) and kept up
to date by the recorders and retention. Thread-safe; listing is blocking (call it in a
thread). :meth:`RecordingIndex.reconcile` repairs what a crash left open.
"""

from __future__ import annotations

import bisect
import collections
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path

import av

from .layout import (
    Segment,
    day_of,
    day_start,
    days_between,
    is_day,
    parse_closed,
    parse_open,
    repair_fragmented,
    valid_source_id,
)
from .segment import finish_segment

logger = logging.getLogger(__name__)

#: Segments closer than this are one continuous range (the next starts where one ended).
MERGE_TOLERANCE = 1.0
#: (source, day) listings kept in memory.
MAX_CACHED_DAYS = 50_000


@dataclass(frozen=True, slots=True)
class Span:
    start: float
    end: float

    def as_dict(self) -> dict[str, float]:
        return {"start": round(self.start, 3), "end": round(self.end, 3),
                "duration": round(self.end - self.start, 3)}


def ranges_and_gaps(segments: list[Segment], t0: float, t1: float,
                    tolerance: float = MERGE_TOLERANCE) -> tuple[list[Span], list[Span]]:
    """Recorded ranges (clipped to [t0, t1], neighbours merged) and the gaps between them."""
    merged: list[list[float]] = []
    for seg in sorted(segments, key=lambda s: s.start):
        start, end = max(seg.start, t0), min(seg.end, t1)
        if end <= start:
            continue
        if merged and start - merged[-1][1] <= tolerance:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    ranges = [Span(a, b) for a, b in merged]
    gaps = []
    cursor = t0
    for r in ranges:
        if r.start - cursor > tolerance:
            gaps.append(Span(cursor, r.start))
        cursor = max(cursor, r.end)
    if t1 - cursor > tolerance:
        gaps.append(Span(cursor, t1))
    return ranges, gaps


class RecordingIndex:
    def __init__(self, root: Path, *, max_segment: float = 3600.0) -> None:
        self.root = Path(root)
        #: the longest a segment may be: a query looks back this far for one that overlaps
        self.max_segment = max_segment
        self._days: collections.OrderedDict[tuple[str, str], list[Segment]] = \
            collections.OrderedDict()
        self._open: dict[str, Segment] = {}
        self._lock = threading.Lock()

    # -- queries (blocking) ---------------------------------------------------------------

    def segments(self, source_id: str, t0: float, t1: float) -> list[Segment]:
        """Segments of ``source_id`` overlapping [t0, t1], oldest first (open one included)."""
        if not valid_source_id(source_id) or t1 < t0:
            return []
        found: list[Segment] = []
        for day in days_between(t0 - self.max_segment, t1):
            day_segments = self._day(source_id, day)
            i = bisect.bisect_left(day_segments, t0 - self.max_segment, key=_start)
            j = bisect.bisect_left(day_segments, t1, key=_start)
            found += [s for s in day_segments[i:j] if s.end > t0]
        with self._lock:
            current = self._open.get(source_id)
        if current is not None and current.end > t0 and current.start < t1:
            found.append(current)
        return found

    def sources(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root)
                          if e.is_dir() and valid_source_id(e.name))
        except FileNotFoundError:
            return []

    def days(self, source_id: str) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.root / source_id)
                          if e.is_dir() and is_day(e.name))
        except FileNotFoundError:
            return []

    def day_segments(self, source_id: str, day: str) -> list[Segment]:
        return list(self._day(source_id, day))

    def _day(self, source_id: str, day: str) -> list[Segment]:
        key = (source_id, day)
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                self._days.move_to_end(key)
                return cached
        listed = self._list(source_id, day)
        with self._lock:
            self._days[key] = listed
            while len(self._days) > MAX_CACHED_DAYS:
                self._days.popitem(last=False)
        return listed

    def _list(self, source_id: str, day: str) -> list[Segment]:
        folder = self.root / source_id / day
        out = []
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return []
        midnight = day_start(day)
        for entry in entries:
            parsed = parse_closed(day, entry.name, midnight)
            if parsed is not None:
                out.append(Segment(parsed[0], parsed[1], parsed[2], folder, entry.name))
        out.sort(key=lambda s: s.start)
        return out

    # -- updates --------------------------------------------------------------------------

    def set_open(self, source_id: str, segment: Segment | None) -> None:
        with self._lock:
            if segment is None:
                self._open.pop(source_id, None)
            else:
                self._open[source_id] = segment

    def add(self, source_id: str, segment: Segment) -> None:
        key = (source_id, day_of(segment.start))
        with self._lock:
            cached = self._days.get(key)
            if cached is not None:
                bisect.insort(cached, segment, key=_start)

    def remove(self, source_id: str, segment: Segment) -> None:
        key = (source_id, day_of(segment.start))
        with self._lock:
            cached = self._days.get(key)
            if cached is not None and segment in cached:
                cached.remove(segment)

    def forget_day(self, source_id: str, day: str) -> None:
        with self._lock:
            self._days.pop((source_id, day), None)

    # -- start-up -------------------------------------------------------------------------

    def reconcile(self) -> dict[str, int]:
        """Repair segments left open by a crash: cut after the last complete fragment and
        rename with the duration that plays; empty ones are removed (blocking)."""
        report = {"repaired": 0, "removed": 0}
        for source_id in self.sources():
            folder = self.root / source_id
            for entry in os.scandir(folder):
                start = parse_open(entry.name)
                if start is None or not entry.is_file():
                    continue
                path = Path(entry.path)
                try:
                    seconds = _playable_seconds(path) if repair_fragmented(path) else 0.0
                except (OSError, av.FFmpegError) as exc:
                    logger.warning("[%s] cannot repair %s: %s", source_id, path.name, exc)
                    seconds = 0.0
                if seconds <= 0:
                    path.unlink(missing_ok=True)
                    report["removed"] += 1
                    continue
                segment = finish_segment(path, folder, start, seconds)
                self.forget_day(source_id, day_of(start))
                report["repaired"] += 1
                logger.info("[%s] segment left open by a crash repaired: %s (%.1f s)",
                            source_id, segment.path.name, seconds)
        return report


def _start(segment: Segment) -> float:
    return segment.start


def _playable_seconds(path: Path) -> float:
    """Duration of the video that demuxes from ``path`` (packets only, no decoding)."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            return 0.0
        video = container.streams.video[0]
        first = last = None
        for packet in container.demux(video):
            if packet.pts is None:
                continue
            end = packet.pts + (packet.duration or 0)
            first = packet.pts if first is None else min(first, packet.pts)
            last = end if last is None else max(last, end)
        if first is None or last is None:
            return 0.0
        return float((last - first) * video.time_base)
