"""Which policy applies to a source, and what it asks for right now (pure functions)."""

from __future__ import annotations

import time

from ..config.recording import DAYS, RecordingConfig, RecordingPolicy, minutes
from ..config.sources import SourceConfig


def policy_for(source: SourceConfig, config: RecordingConfig) -> RecordingPolicy:
    """The source's own policy, else the longest matching group's, else the default."""
    if source.recording is not None:
        return source.recording
    best: tuple[int, RecordingPolicy] | None = None
    for path, policy in config.groups.items():
        if source.group == path or source.group.startswith(path + "/"):
            if best is None or len(path) > best[0]:
                best = (len(path), policy)
    return best[1] if best is not None else config.default


def in_schedule(policy: RecordingPolicy, when: float | None = None) -> bool:
    """Whether a ``schedule`` policy's windows cover ``when`` (the hub's local time)."""
    local = time.localtime(time.time() if when is None else when)
    day = DAYS[local.tm_wday]
    now = local.tm_hour * 60 + local.tm_min
    return any(day in w.days and minutes(w.start) <= now < minutes(w.end)
               for w in policy.schedule)


def wanted_mode(policy: RecordingPolicy, when: float | None = None) -> str:
    """What the recorder of a source should do now: ``off``, ``continuous`` or
    ``on-alert``."""
    if policy.mode == "schedule":
        return "continuous" if in_schedule(policy, when) else "off"
    return policy.mode


def retention_seconds(policy: RecordingPolicy, config: RecordingConfig) -> float:
    days = policy.retention_days or config.retention.max_age_days
    return days * 86_400
