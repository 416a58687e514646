"""The ``recording`` section and the per-source / per-group recording policy.

A source records by its own ``recording`` field when it has one, else by the policy of the
longest matching group path in ``recording.groups``, else by ``recording.default`` (off).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import ByteSize, Field, field_validator, model_validator

from .base import Section

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$|^24:00$"


class WeeklyWindow(Section):
    """One recurring window of the week, in the hub's local time (``end`` may be 24:00)."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = Field(
        DAYS, min_length=1, title="Days of the week the window applies to")
    start: str = Field("00:00", pattern=_HHMM, title="HH:MM local time")
    end: str = Field("24:00", pattern=_HHMM, title="HH:MM local time, after start")

    @model_validator(mode="after")
    def _ordered(self) -> WeeklyWindow:
        if minutes(self.end) <= minutes(self.start):
            raise ValueError("end must be after start (split a window that crosses midnight)")
        return self


def minutes(hhmm: str) -> int:
    hours, mins = hhmm.split(":")
    return int(hours) * 60 + int(mins)


class RecordingPolicy(Section):
    mode: Literal["off", "continuous", "on-alert", "schedule"] = Field(
        "off", title="off; continuous; on-alert (pre-roll + post-roll around every alert of "
        "the source); schedule (continuous inside the weekly windows)")
    schedule: tuple[WeeklyWindow, ...] = Field((), max_length=64,
                                               title="Windows of mode: schedule")
    retention_days: float | None = Field(None, gt=0, le=3650, title="Days recordings of "
                                         "this source are kept (default: retention.max_age_days)")

    @model_validator(mode="after")
    def _schedule_given(self) -> RecordingPolicy:
        if self.mode == "schedule" and not self.schedule:
            raise ValueError("mode schedule needs at least one window in schedule")
        return self


class RetentionConfig(Section):
    max_age_days: float = Field(30.0, gt=0, le=3650, title="Segments older than this go "
                                "(per source or group: recording policy retention_days)")
    quota: ByteSize | None = Field(None, title="Disk quota of the whole recordings folder "
                                   "(e.g. 2TB); over it the oldest segments go first")
    min_free: ByteSize = Field(ByteSize(2 * 1024 ** 3), title="Free-space floor of the "
                               "recordings filesystem: below it this node stops recording")
    resume_free: ByteSize | None = Field(None, title="Free space at which recording resumes "
                                         "(default: min_free plus 10 %)")
    alert_days: float = Field(90.0, gt=0, le=3650, title="Segments covering an alert that "
                              "was not marked a false alarm are kept this long, whatever "
                              "the age and the quota say")
    interval: float = Field(60.0, ge=1, le=3600, title="Seconds between retention passes")
    disk_check: float = Field(5.0, ge=0.5, le=300, title="Seconds between free-space checks")


class RecordingConfig(Section):
    enabled: bool = Field(True, title="Record sources whose policy says so (false: this "
                          "node records nothing, playback of existing files still works)")
    path: Path | None = Field(None, title="Recordings folder (default: DATA_DIR/recordings); "
                              "may be a mounted network filesystem")
    segment: float = Field(60.0, ge=2, le=3600, title="Seconds per segment file; a segment "
                           "starts at the first keyframe after this")
    fragment: float = Field(2.0, ge=0.2, le=10, title="Seconds per fMP4 fragment; each is "
                            "flushed and fsynced, so a crash loses at most the last one")
    gap: float = Field(3.0, ge=0.5, le=60, title="Seconds without video after which the "
                       "open segment is closed and a gap begins")
    queue: int = Field(250, ge=10, le=10_000, title="Access units buffered per recorded "
                       "source between the stream and the writer thread; more are dropped "
                       "to the next keyframe and counted")
    max_buffer_bytes: ByteSize = Field(ByteSize(16 * 1024 * 1024), title="Memory bound of "
                                       "one source's recorder (queue + unflushed fragment); "
                                       "over it the queue is dropped to the next keyframe")
    pre_roll: float = Field(10.0, ge=0, le=300, title="on-alert: seconds kept before an alert")
    post_roll: float = Field(30.0, ge=0, le=3600, title="on-alert: seconds recorded after")
    pre_roll_bytes: ByteSize = Field(ByteSize(32 * 1024 * 1024), title="on-alert: memory "
                                     "cap of one source's pre-roll ring")
    schedule_check: float = Field(30.0, ge=1, le=600, title="Seconds between checks of "
                                  "weekly schedules")
    default: RecordingPolicy = Field(default_factory=RecordingPolicy,
                                     title="Policy of sources without one of their own")
    groups: dict[str, RecordingPolicy] = Field(default_factory=dict, title="Policy per "
                                               "group path (applies to its subgroups too)")
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    max_export: float = Field(6 * 3600.0, gt=0, title="Longest export in seconds")
    exports: int = Field(2, ge=1, le=64, title="Exports remuxed at the same time; more get "
                         "429")
    playbacks: int = Field(64, ge=1, le=10_000, title="Playback streams served at the same "
                           "time; more get 429")

    @field_validator("groups")
    @classmethod
    def _group_paths(cls, value: dict[str, RecordingPolicy]) -> dict[str, RecordingPolicy]:
        from .sources import GROUP_PATTERN  # noqa: PLC0415 - sources imports this module

        for path in value:
            if not re.match(GROUP_PATTERN, path):
                raise ValueError(f"{path!r} is not a group path")
        return value
