"""Pydantic models of the HTTP API's JSON bodies, as the OpenAPI document declares them
(:mod:`mediaserver.api.openapi` turns them into ``components/schemas``). The source bodies
come from :class:`~mediaserver.config.sources.SourceConfig` itself."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

State = Literal["offline", "online", "streaming", "error"]
AlertKind = Literal["fire", "smoke", "flood", "manual"]
Review = Literal["new", "confirmed", "false_alarm"]

#: sources as the API returns them; the document points these fields at its generated
#: ``Source`` schema (see openapi._source_schemas), which is no model of its own
SOURCE_LISTS = {"Page": "items"}


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Body):
    code: str = Field(examples=["unauthorized", "forbidden", "not_found", "invalid"])
    message: str


class Error(Body):
    """Every JSON error of the API."""

    error: ErrorDetail


class Status(Body):
    """Live status of a source."""

    source_id: str | None = None
    state: State
    since: float | None = Field(None, description="Unix time of the last state change")
    node: str | None = None
    codec: str | None = Field(None, examples=["h264", "h265"])
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    bitrate: float | None = Field(None, description="bits per second")
    viewers: int | None = None
    last_error: str | None = Field(None, description="Scrubbed of credentials")


class Page(Body):
    """One page of sources."""

    items: list[dict[str, Any]]
    total: int
    limit: int
    offset: int | None = None
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; "
                                    "null on the last page")


class ImportRowError(Body):
    row: int
    id: str | None = None
    field: str | None = None
    message: str


class ImportResult(Body):
    imported: int
    failed: int
    errors: list[ImportRowError] = []


class Groups(Body):
    groups: dict[str, int] = Field(description="Source count per group path, subgroups "
                                   "included; only groups the token sees")


class Health(Body):
    status: Literal["ok", "fail"]
    checks: dict[str, Annotated[str, Field(description="`ok` or `fail: reason`")]]


class Info(Body):
    version: str
    auth_mode: Literal["jwt", "none"]


class SnapshotEvent(Body):
    """First WebSocket message."""

    v: Literal[1]
    type: Literal["snapshot"]
    states: dict[str, State]


class StatusChange(Body):
    source_id: str
    state: str
    prev: str | None = None
    since: float


class StatusEvent(Body):
    """Coalesced state changes."""

    v: Literal[1]
    type: Literal["status"]
    changes: list[StatusChange]


class Location(Body):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Evidence(Body):
    """Whether the alert's snapshot and clip exist, and why not."""

    snapshot: Literal["ready", "pending", "unavailable"] | None = None
    clip: Literal["ready", "pending", "unavailable"] | None = None
    reason: str | None = Field(None, description="Why there is no evidence (source offline, "
                               "no picture, ...)")


class Alert(Body):
    """An alert as the API and the events return it (file paths are never shown; use the
    URLs)."""

    alert_id: str
    source_id: str
    group: str
    kind: AlertKind
    state: Literal["raised", "resolved"]
    review: Review
    confidence: float
    boxes: list[Annotated[list[float], Field(min_length=5, max_length=5)]] = []
    raised_at: float | None
    updated_at: float | None
    resolved_at: float | None = None
    acknowledged: bool = False
    acknowledged_by: str | None = None
    acknowledged_at: float | None = None
    reviewer: str | None = None
    comment: str | None = None
    message: str | None = None
    location: Location | None = None
    snapshot_url: str | None = Field(None, description="Set once the snapshot file exists")
    clip_url: str | None = Field(None, description="Set once the clip file exists")
    evidence: Evidence | None = None
    cancelled_by: str | None = Field(None, description="Who withdrew it as a false alarm")
    v: Literal[1] = Field(1, description="Schema version of the alert event")


class AlertPage(Body):
    items: list[Alert]
    total: int
    limit: int | None = None
    offset: int | None = None


class AlertInput(Body):
    """A manual alert (the one-click alarm)."""

    source_id: str
    kind: AlertKind = "manual"
    message: str = Field("", max_length=500)
    location: Location | None = None
    confidence: float = Field(1.0, ge=0, le=1)


class AlertReview(Body):
    review: Review
    comment: str = Field("", max_length=2000)


class LocationReport(Location):
    """Latest GPS position of a field device."""

    accuracy: float | None = Field(None, ge=0)
    ts: float | None = None
