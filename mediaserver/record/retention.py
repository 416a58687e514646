"""Retention of recordings: by age (per source) and by a disk quota for the whole recordings
folder, oldest segments first; segments overlapping a kept alert window survive both until
``retention.alert_days``. Blocking (file deletion): run :meth:`Retention.run` in a thread.
"""

from __future__ import annotations

import collections
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from ..config.recording import RecordingConfig
from .index import RecordingIndex
from .layout import DAY_SECONDS, Segment, day_start

logger = logging.getLogger(__name__)

#: (start, end) wall-clock windows per source that must be kept (alerts).
KeepWindows = dict[str, list[tuple[float, float]]]


@dataclass
class RetentionReport:
    deleted_age: int = 0
    deleted_quota: int = 0
    bytes_deleted: int = 0
    kept_for_alerts: int = 0
    used_bytes: int = 0


class Retention:
    def __init__(self, index: RecordingIndex, config: RecordingConfig,
                 max_age: Callable[[str], float]) -> None:
        self.index = index
        self.config = config
        self._max_age = max_age

    def _kept(self, source_id: str, seg: Segment, keep: KeepWindows, now: float) -> bool:
        if seg.end < now - self.config.retention.alert_days * DAY_SECONDS:
            return False
        return any(seg.start < end and seg.end > start for start, end in keep.get(source_id, ()))

    def run(self, keep: KeepWindows, now: float) -> RetentionReport:
        report = RetentionReport()
        by_day: dict[str, list[tuple[str, Segment]]] = collections.defaultdict(list)
        for source_id in self.index.sources():
            horizon = now - self._max_age(source_id)
            for day in self.index.days(source_id):
                segments = self.index.day_segments(source_id, day)
                if not segments:
                    self._remove_empty_day(source_id, day)
                    continue
                for seg in segments:
                    if seg.end < horizon:
                        if self._kept(source_id, seg, keep, now):
                            report.kept_for_alerts += 1
                        elif self._delete(source_id, seg, report):
                            report.deleted_age += 1
                            continue
                    by_day[day].append((source_id, seg))
                    report.used_bytes += seg.size
                if day_start(day) + DAY_SECONDS < horizon:
                    self._remove_empty_day(source_id, day)
        quota = self.config.retention.quota
        if quota is not None and report.used_bytes > quota:
            self._enforce_quota(int(quota), by_day, keep, now, report)
        if report.deleted_age or report.deleted_quota:
            logger.info("retention: %d segments deleted by age, %d by quota (%d bytes); "
                        "%d kept for alerts; %d bytes in use", report.deleted_age,
                        report.deleted_quota, report.bytes_deleted, report.kept_for_alerts,
                        report.used_bytes)
        return report

    def _enforce_quota(self, quota: int, by_day: dict[str, list[tuple[str, Segment]]],
                       keep: KeepWindows, now: float, report: RetentionReport) -> None:
        for day in sorted(by_day):
            for source_id, seg in sorted(by_day[day], key=lambda item: item[1].start):
                if report.used_bytes <= quota:
                    return
                if self._kept(source_id, seg, keep, now):
                    report.kept_for_alerts += 1
                    continue
                if self._delete(source_id, seg, report):
                    report.deleted_quota += 1
                    report.used_bytes -= seg.size
        if report.used_bytes > quota:
            logger.warning("retention: %d bytes in use over the %d byte quota, all of it kept "
                           "for alerts or being written", report.used_bytes, quota)

    def _delete(self, source_id: str, seg: Segment, report: RetentionReport) -> bool:
        try:
            seg.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            logger.warning("[%s] retention cannot delete %s: %s", source_id, seg.path.name, exc)
            return False
        self.index.remove(source_id, seg)
        report.bytes_deleted += seg.size
        return True

    def _remove_empty_day(self, source_id: str, day: str) -> None:
        folder = self.index.root / source_id / day
        try:
            os.rmdir(folder)
        except OSError:
            return  # not empty, or already gone
        self.index.forget_day(source_id, day)
