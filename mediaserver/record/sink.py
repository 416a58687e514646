"""The blocking half of one source's recorder: turns batches of access units into segment
files (roll at the first keyframe after ``segment`` seconds, close on a gap or a new publisher
session, pre-roll ring for on-alert recording). Only ever called from one worker thread at a
time; it returns what the index must learn.

Wall-clock times come from an *anchor*: the wall time of pts 0 of the current publisher
session, estimated as the smallest ``arrival - pts`` seen (queueing only ever delays an
arrival) and allowed to creep forward slowly so that a camera clock that runs slow does not
drift away from the wall clock.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..config.recording import RecordingConfig
from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..core.audio import AudioFrame
from .layout import Segment
from .ring import PreRollRing
from .segment import AudioFormat, SegmentError, SegmentWriter

logger = logging.getLogger(__name__)

#: Seconds per access unit the anchor may move forward (5 ms/s at 25 fps: 5000 ppm).
ANCHOR_RELAX = 0.0002


@dataclass
class SinkReport:
    closed: list[Segment] = field(default_factory=list)
    open: Segment | None = None
    failures: int = 0
    #: access units not recorded: paused (free-space floor) or no keyframe to start on
    skipped: int = 0


class SegmentSink:
    def __init__(self, source_id: str, folder: Path, config: RecordingConfig, *,
                 on_alert: bool = False) -> None:
        self.source_id = source_id
        self.folder = folder
        self.config = config
        self.on_alert = on_alert
        self.ring = PreRollRing(config.pre_roll, int(config.pre_roll_bytes)) if on_alert \
            else None
        #: wall time until which an on-alert source records (set from the event loop)
        self.armed_until = 0.0
        self.paused = False
        self._writer: SegmentWriter | None = None
        self._anchor: float | None = None
        self._audio_map: tuple[int, int] | None = None
        self._session: int | None = None
        self._synced_at = 0
        self.high_water = 0
        # a cancelled recorder closes the sink while a feed may still run in its thread
        self._lock = threading.Lock()

    @property
    def recording(self) -> bool:
        return self._writer is not None

    def _wall(self, pts: int) -> float:
        assert self._anchor is not None
        return self._anchor + pts / VIDEO_CLOCK_RATE

    def _learn(self, au: AccessUnit, arrival: float) -> None:
        estimate = arrival - au.pts / VIDEO_CLOCK_RATE
        if self._anchor is None or estimate < self._anchor:
            self._anchor = estimate
        else:
            self._anchor += min(estimate - self._anchor, ANCHOR_RELAX)

    def feed(self, aus: list[tuple[AccessUnit, float]], audio: list[tuple[AudioFrame, float]],
             track: VideoTrack | None, audio_format: AudioFormat | None, session: int,
             now: float) -> SinkReport:
        with self._lock:
            return self._feed(aus, audio, track, audio_format, session, now)

    def _feed(self, aus: list[tuple[AccessUnit, float]], audio: list[tuple[AudioFrame, float]],
              track: VideoTrack | None, audio_format: AudioFormat | None, session: int,
              now: float) -> SinkReport:
        report = SinkReport()
        if session != self._session:
            self._session = session
            self._anchor = None
            self._audio_map = None
            self._close(report)
            if self.ring is not None:
                self.ring.reset()
        if self.paused or track is None:
            self._close(report)
            report.skipped += len(aus)
            return self._done(report)
        video: list[AccessUnit] = []
        for au, arrival in aus:
            self._learn(au, arrival)
            armed = not self.on_alert or now < self.armed_until
            if self.ring is not None and not self._writer:
                self.ring.add(au)
            if not armed:
                if self._writer is not None:
                    self._flush(video, audio, report)
                    video, audio = [], []
                    self._close(report)
                continue
            if self._writer is not None and au.keyframe and \
                    self._writer.first_pts is not None and \
                    (au.pts - self._writer.first_pts) / VIDEO_CLOCK_RATE >= self.config.segment:
                self._flush(video, audio, report)
                video, audio = [], []
                self._close(report)
            if self._writer is None:
                initial = self.ring.snapshot() if self.ring is not None else [au]
                if not initial or not initial[0].keyframe:
                    report.skipped += 1
                    continue
                if not self._open(initial[0], track, audio_format, report):
                    continue
                if self.ring is not None:
                    self.ring.reset()
                video.extend(initial)
                continue
            video.append(au)
        self._flush(video, audio, report)
        return self._done(report)

    def _done(self, report: SinkReport) -> SinkReport:
        if self._writer is not None and self._writer.first_pts is not None:
            start = self._wall(self._writer.first_pts)
            report.open = Segment.at(self._writer.tmp, start, start + self._writer.seconds,
                                     self._writer.bytes_in, open=True)
            self.high_water = max(self.high_water, self._writer.buffered)
        return report

    def _open(self, first: AccessUnit, track: VideoTrack, audio_format: AudioFormat | None,
              report: SinkReport) -> bool:
        try:
            self._writer = SegmentWriter(self.folder, self._wall(first.pts), track,
                                         audio_format, fragment=self.config.fragment)
        except SegmentError as exc:
            report.failures += 1
            logger.warning("[%s] cannot start a segment: %s", self.source_id, exc)
            return False
        self._synced_at = first.pts
        return True

    def _flush(self, video: list[AccessUnit], audio: list[tuple[AudioFrame, float]],
               report: SinkReport) -> None:
        writer = self._writer
        if writer is None or not video:
            return
        placed = [(self._audio_pts(frame, arrival), frame) for frame, arrival in audio] \
            if writer.has_audio and self._anchor is not None else []
        try:
            writer.write(video, placed)
            if (video[-1].pts - self._synced_at) / VIDEO_CLOCK_RATE >= self.config.fragment:
                writer.sync()
                self._synced_at = video[-1].pts
        except SegmentError as exc:
            report.failures += 1
            logger.warning("[%s] segment write failed, segment closed: %s", self.source_id, exc)
            self._writer = None
            writer.abort()

    def _audio_pts(self, frame: AudioFrame, arrival: float) -> int:
        """An audio frame's place on the video clock: by its arrival for the first frame,
        then by its own sample clock (re-placed when the two disagree by over a second)."""
        assert self._anchor is not None
        by_arrival = int((arrival - self._anchor) * VIDEO_CLOCK_RATE)
        if self._audio_map is not None:
            first_pts, first_at = self._audio_map
            mapped = first_at + (frame.pts - first_pts) * VIDEO_CLOCK_RATE // frame.sample_rate
            if abs(mapped - by_arrival) <= VIDEO_CLOCK_RATE:
                return mapped
        self._audio_map = (frame.pts, by_arrival)
        return by_arrival

    def _close(self, report: SinkReport) -> None:
        writer, self._writer = self._writer, None
        if writer is None:
            return
        start = self._wall(writer.first_pts) if writer.first_pts is not None and \
            self._anchor is not None else 0.0
        try:
            segment = writer.close(start)
        except SegmentError as exc:
            report.failures += 1
            logger.warning("[%s] cannot finish a segment: %s", self.source_id, exc)
            return
        if segment is not None:
            report.closed.append(segment)
            logger.debug("[%s] segment %s closed (%.1f s, %d bytes)", self.source_id,
                         segment.path.name, segment.duration, segment.size)

    def close(self) -> SinkReport:
        report = SinkReport()
        with self._lock:
            self._close(report)
        return report

    def gap(self) -> SinkReport:
        """No video for ``gap`` seconds: close the segment; the next one re-anchors, and a
        pre-roll never spans the gap."""
        report = SinkReport()
        with self._lock:
            self._close(report)
            self._anchor = None
            self._audio_map = None
            if self.ring is not None:
                self.ring.reset()
        return report
