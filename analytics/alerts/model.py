"""The alert record of the contract (``fh:alert:{id}``) and its public JSON view."""

from __future__ import annotations

import json
import secrets
from typing import Any

KINDS = ("fire", "smoke", "flood", "manual")
STATES = ("raised", "resolved")
REVIEWS = ("new", "confirmed", "false_alarm")
EVENTS = ("raised", "updated", "resolved", "reviewed", "acknowledged")
VERSION = 1
#: Hash fields never shown to clients (paths under the data dir; clients use the URLs).
PRIVATE = ("snapshot", "clip")
FIELDS = ("alert_id", "source_id", "group", "kind", "state", "review", "confidence", "boxes",
          "raised_at", "updated_at", "resolved_at", "acknowledged_by", "acknowledged_at",
          "reviewer", "comment", "message", "location", "snapshot", "clip", "v",
          "evidence_error", "cancelled_by")


def new_alert_id() -> str:
    return "al_" + secrets.token_hex(8)


def is_alert_id(value: str) -> bool:
    return len(value) == 19 and value.startswith("al_") and \
        all(c in "0123456789abcdef" for c in value[3:])


def new_record(*, alert_id: str, source_id: str, group: str, kind: str, confidence: float,
               boxes: list[list[float]], now: float, message: str = "",
               location: dict[str, float] | None = None) -> dict[str, str]:
    """A fresh ``raised`` record as the hash stores it (all values strings)."""
    return {
        "alert_id": alert_id, "source_id": source_id, "group": group, "kind": kind,
        "state": "raised", "review": "new", "confidence": f"{confidence:.4f}",
        "boxes": json.dumps([[round(float(x), 1) for x in b[:4]] + [round(float(b[4]), 4)]
                             for b in boxes]),
        "raised_at": f"{now:.3f}", "updated_at": f"{now:.3f}", "resolved_at": "",
        "acknowledged_by": "", "acknowledged_at": "", "reviewer": "", "comment": "",
        "message": message, "location": json.dumps(location) if location else "",
        "snapshot": "", "clip": "", "v": str(VERSION),
    }


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except ValueError:
        return None


def _json(value: str | None, default: Any) -> Any:
    if not value:
        return default
    try:
        return json.loads(value)
    except ValueError:
        return default


def public(record: dict[str, str]) -> dict[str, Any]:
    """The alert as the API and the events show it: typed, no file paths, with URLs."""
    alert_id = record.get("alert_id", "")
    out: dict[str, Any] = {
        "alert_id": alert_id,
        "source_id": record.get("source_id", ""),
        "group": record.get("group", ""),
        "kind": record.get("kind", ""),
        "state": record.get("state", ""),
        "review": record.get("review", "new"),
        "confidence": _float(record.get("confidence")) or 0.0,
        "boxes": _json(record.get("boxes"), []),
        "raised_at": _float(record.get("raised_at")),
        "updated_at": _float(record.get("updated_at")),
        "resolved_at": _float(record.get("resolved_at")),
        "acknowledged": bool(record.get("acknowledged_at")),
        "acknowledged_by": record.get("acknowledged_by") or None,
        "acknowledged_at": _float(record.get("acknowledged_at")),
        "reviewer": record.get("reviewer") or None,
        "comment": record.get("comment", ""),
        "message": record.get("message", ""),
        "location": _json(record.get("location"), None),
        # URLs only once the file exists; otherwise evidence says whether it is still coming
        "snapshot_url": f"/api/v1/alerts/{alert_id}/snapshot" if record.get("snapshot")
        else None,
        "clip_url": f"/api/v1/alerts/{alert_id}/clip" if record.get("clip") else None,
        "evidence": _evidence(record),
        "cancelled_by": record.get("cancelled_by") or None,
        "v": VERSION,
    }
    return out


def _evidence(record: dict[str, str]) -> dict[str, Any]:
    """``{"snapshot": "ready|pending|unavailable", "clip": ..., "reason": str | None}``."""
    reason = record.get("evidence_error") or None

    def state(field: str) -> str:
        if record.get(field):
            return "ready"
        return "unavailable" if reason else "pending"

    return {"snapshot": state("snapshot"), "clip": state("clip"), "reason": reason}
