"""Results of push publishers, whatever their protocol: one record per session, counters per
publisher, and a summary per protocol (connect time, time to ``online``, refusals by status).

A session record is a dict with :data:`RECORD_FIELDS`. ``outcome`` is ``completed`` (ran its
planned length and hung up), ``refused`` (the hub answered with an error status, or the
session ended with an error within :data:`EARLY_EXIT` seconds) or ``failed`` (it ran, then
broke). ``status`` says why a session was refused or failed: an HTTP/RTSP status code such as
``"409"``, or a short reason. ``connect_ms``: WHIP only, offer POSTed → ICE+DTLS connected.
``online_ms``/``streaming_ms``: session start → the hub's stamp of the source turning
``online``/``streaming``, from :class:`~loadtests.status_watch.StatusWatcher`.
"""

from __future__ import annotations

import re
import statistics
from dataclasses import dataclass, field

#: a session that ends sooner than this with an error counts as refused
EARLY_EXIT = 2.0
#: session records kept per publisher (later ones are only counted)
MAX_RECORDS = 300
RECORD_FIELDS = ("protocol", "source_id", "started_at", "ended_at", "planned_s", "outcome",
                 "status", "error", "connect_ms", "online_ms", "streaming_ms")
OUTCOMES = ("completed", "refused", "failed")
_STATUS = re.compile(r"\b([45]\d\d)\b")
_REASONS = (("connection refused", "connection refused"), ("timed out", "timeout"),
            ("timeout", "timeout"), ("broken pipe", "connection reset"),
            ("connection reset", "connection reset"), ("end of file", "connection closed"))


def classify(message: str, returncode: int | None = None) -> str:
    """The status code quoted in an error message (``"405"``), else a short reason."""
    match = _STATUS.search(message)
    if match:
        return match.group(1)
    lowered = message.lower()
    for needle, reason in _REASONS:
        if needle in lowered:
            return reason
    return f"exit {returncode}" if returncode is not None else "error"


def record(protocol: str, source_id: str, started_at: float, ended_at: float,
           planned_s: float, outcome: str, *, status: str | None = None,
           error: str | None = None, connect_ms: float | None = None) -> dict:
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    return {"protocol": protocol, "source_id": source_id, "started_at": round(started_at, 3),
            "ended_at": round(ended_at, 3), "planned_s": round(planned_s, 2),
            "outcome": outcome, "status": status, "error": error and error[:200],
            "connect_ms": connect_ms, "online_ms": None, "streaming_ms": None}


@dataclass
class PublisherStats:
    source_id: str
    protocol: str
    sessions: int = 0
    refused: int = 0
    failed: int = 0
    completed: int = 0
    seconds_published: float = 0.0
    last_error: str = ""
    errors: list[str] = field(default_factory=list)
    refused_by_status: dict[str, int] = field(default_factory=dict)
    records: list[dict] = field(default_factory=list)

    def add(self, rec: dict) -> None:
        """Count a finished session (``sessions`` is counted when it starts)."""
        outcome = rec["outcome"]
        setattr(self, outcome, getattr(self, outcome) + 1)
        if outcome != "refused":
            self.seconds_published += rec["ended_at"] - rec["started_at"]
        else:
            key = rec["status"] or "error"
            self.refused_by_status[key] = self.refused_by_status.get(key, 0) + 1
        if rec["error"]:
            self.last_error = rec["error"]
            if len(self.errors) < 3:
                self.errors.append(rec["error"])
        if len(self.records) < MAX_RECORDS:
            self.records.append(rec)


def resolve_online(records: list[dict], watcher) -> int:
    """Fill ``online_ms``/``streaming_ms`` of records that lack them from ``watcher`` (a
    :class:`~loadtests.status_watch.StatusWatcher`); returns how many were filled."""
    filled = 0
    for rec in records:
        if rec["online_ms"] is not None or rec["outcome"] == "refused":
            continue
        start, end = rec["started_at"], rec["ended_at"]
        for key, state in (("online_ms", None), ("streaming_ms", "streaming")):
            stamp = watcher.first_live(rec["source_id"], start, state)
            if stamp is not None and stamp <= end:
                rec[key] = round((stamp - start) * 1000, 1)
        filled += rec["online_ms"] is not None
    return filled


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summarize(stats: list[PublisherStats]) -> dict[str, dict]:
    """Per protocol: publishers, sessions by outcome, refusals by status, connect and
    time-to-online percentiles (ms) of the sessions that got that far."""
    out: dict[str, dict] = {}
    for protocol in dict.fromkeys(s.protocol for s in stats):
        mine = [s for s in stats if s.protocol == protocol]
        records = [r for s in mine for r in s.records if r["outcome"] != "refused"]
        refused: dict[str, int] = {}
        for s in mine:
            for key, count in s.refused_by_status.items():
                refused[key] = refused.get(key, 0) + count
        connect = [r["connect_ms"] for r in records if r["connect_ms"] is not None]
        online = [r["online_ms"] for r in records if r["online_ms"] is not None]
        streaming = [r["streaming_ms"] for r in records if r["streaming_ms"] is not None]
        out[protocol] = {
            "publishers": len(mine), "sessions": sum(s.sessions for s in mine),
            "completed": sum(s.completed for s in mine),
            "refused": sum(s.refused for s in mine), "failed": sum(s.failed for s in mine),
            "refused_by_status": dict(sorted(refused.items())),
            "seconds_published": round(sum(s.seconds_published for s in mine), 1),
            "connect_ms_p50": percentile(connect, 50), "connect_ms_p95": percentile(connect, 95),
            "online_seen": len(online),
            "online_ms_p50": percentile(online, 50), "online_ms_p95": percentile(online, 95),
            "online_ms_max": max(online, default=None),
            "streaming_ms_p50": percentile(streaming, 50),
            "online_ms_mean": round(statistics.fmean(online), 1) if online else None,
        }
    return out
