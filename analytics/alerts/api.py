"""Alerts REST API (the alerts contract, ARCHITECTURE §4/§5).

Routes (JSON errors as in :mod:`mediaserver.http.errors`; out of scope answers 404)::

    GET   /api/v1/alerts                 view     ?source&group&kind&state&review&acknowledged
                                                  &since&until&limit&offset, newest first
    POST  /api/v1/alerts                 operate  (or a device token for its own source) 201
    GET   /api/v1/alerts/{id}            view
    PATCH /api/v1/alerts/{id}            review   {"review": ..., "comment"?}
    POST  /api/v1/alerts/{id}/ack        operate
    POST  /api/v1/alerts/{id}/cancel     operate, or the device of the alert's source:
                                                  a false alarm (resolved, review false_alarm)
    GET   /api/v1/alerts/{id}/snapshot   view     image/jpeg
    GET   /api/v1/alerts/{id}/clip       view     video/mp4, Range requests (206)
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from analytics.alerts.model import KINDS, REVIEWS, STATES, public
from analytics.alerts.store import AlertStore
from mediaserver.config.sources import SourceConfig
from mediaserver.errors import AlertNotFound, ApiError
from mediaserver.http.body import read_json_object
from mediaserver.http.errors import api_handler
from mediaserver.http.pagination import parse_pagination
from mediaserver.http.principal import Principal, group_in_scope

logger = logging.getLogger(__name__)

#: ``raise_alert(source, kind, confidence, message, location)`` → the public alert; the
#: analytics service implements it (snapshot + clip evidence, same path as detections).
RaiseAlert = Callable[[SourceConfig, str, float, str, dict[str, float] | None],
                      Awaitable[dict[str, Any]]]
MAX_MESSAGE = 2000
MAX_COMMENT = 4000


def _not_found() -> ApiError:
    return ApiError(404, "not_found", "no such alert")


class AlertsApi:
    def __init__(self, store: AlertStore, access: Any, raise_alert: RaiseAlert, *,
                 data_dir: Path) -> None:
        self._store = store
        self._access = access
        self._raise = raise_alert
        self._data_dir = Path(data_dir)  # resolved where files are looked up, in a thread

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/alerts", self.list)
        app.router.add_post("/api/v1/alerts", self.create)
        app.router.add_get("/api/v1/alerts/{alert_id}", self.get)
        app.router.add_patch("/api/v1/alerts/{alert_id}", self.review)
        app.router.add_post("/api/v1/alerts/{alert_id}/ack", self.ack)
        app.router.add_post("/api/v1/alerts/{alert_id}/cancel", self.cancel)
        app.router.add_get("/api/v1/alerts/{alert_id}/snapshot", self.snapshot)
        app.router.add_get("/api/v1/alerts/{alert_id}/clip", self.clip)

    # -- helpers ----------------------------------------------------------------------------

    def _visible(self, principal: Principal, record: dict[str, str]) -> bool:
        if principal.role == "device":
            return principal.source == record.get("source_id")
        return self._access.sees_group(principal, record.get("group", ""))

    async def _load(self, request: web.Request, action: str
                    ) -> tuple[Principal, dict[str, str]]:
        principal = await self._access.authenticate(request)
        self._access.require(principal, action)
        try:
            record = await self._store.get_record(request.match_info["alert_id"])
        except AlertNotFound:
            raise _not_found() from None
        if not self._visible(principal, record):
            raise _not_found()
        return principal, record

    async def _file(self, record: dict[str, str], field: str) -> Path:
        rel = record.get(field) or ""
        if not rel:
            raise ApiError(404, "not_found", f"no {field} for this alert yet")
        path = await asyncio.to_thread(self._existing_file, rel)
        if path is None:
            raise ApiError(404, "not_found", f"no {field} for this alert yet")
        return path

    def _existing_file(self, rel: str) -> Path | None:
        """Blocking (resolves links, stats): the file under the data dir, None otherwise."""
        root = self._data_dir.resolve()
        path = (root / rel).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return None
        return path

    # -- handlers ---------------------------------------------------------------------------

    @api_handler
    async def list(self, request: web.Request) -> web.Response:
        principal = await self._access.authenticate(request)
        self._access.require(principal, "view")
        page = parse_pagination(request, default_limit=50, max_limit=500)
        q = request.rel_url.query
        match = _matcher(q, lambda record: self._visible(principal, record))
        items, total = await self._store.list(
            since=_time(q.get("since"), "since"), until=_time(q.get("until"), "until"),
            match=match, limit=page.limit, offset=page.offset)
        return web.json_response({"items": items, "total": total, "limit": page.limit,
                                  "offset": page.offset})

    @api_handler
    async def get(self, request: web.Request) -> web.Response:
        _, record = await self._load(request, "view")
        return web.json_response(public(record))

    @api_handler
    async def create(self, request: web.Request) -> web.Response:
        principal = await self._access.authenticate(request)
        body = await read_json_object(request)
        source_id = body.get("source_id")
        if not isinstance(source_id, str):
            raise ApiError(422, "invalid", "source_id is required", field="source_id")
        action = "publish" if principal.role == "device" else "operate"
        _, source = await self._access.source_for(request, source_id, action)
        kind = body.get("kind", "manual")
        if kind not in KINDS:
            raise ApiError(422, "invalid", f"kind must be one of {', '.join(KINDS)}",
                           field="kind")
        message = body.get("message", "")
        if not isinstance(message, str) or len(message) > MAX_MESSAGE:
            raise ApiError(422, "invalid", f"message must be a string of at most "
                           f"{MAX_MESSAGE} characters", field="message")
        confidence = body.get("confidence", 1.0)
        if isinstance(confidence, bool) or not isinstance(confidence, int | float) \
                or not 0 <= confidence <= 1:
            raise ApiError(422, "invalid", "confidence must be a number in 0..1",
                           field="confidence")
        location = _location(body.get("location"))
        if location is None and source.location is not None:
            location = {"lat": source.location.lat, "lon": source.location.lon}
        alert = await self._raise(source, kind, float(confidence), message, location)
        logger.info("[%s] %s alert %s raised through the API by %s", source_id, kind,
                    alert["alert_id"], principal.subject)
        return web.json_response(alert, status=201,
                                 headers={"Location": f"/api/v1/alerts/{alert['alert_id']}"})

    @api_handler
    async def ack(self, request: web.Request) -> web.Response:
        principal, record = await self._load(request, "operate")
        alert = await self._store.acknowledge(record["alert_id"], principal.subject)
        return web.json_response(alert)

    @api_handler
    async def cancel(self, request: web.Request) -> web.Response:
        """The field device (or an operator) withdraws a false alarm."""
        principal = await self._access.authenticate(request)
        _, record = await self._load(request, "publish" if principal.role == "device"
                                     else "operate")
        if record.get("state") == "resolved":
            raise ApiError(409, "conflict", "the alert is resolved already")
        alert = await self._store.change(
            record["alert_id"], "resolved", state="resolved", review="false_alarm",
            resolved_at=f"{time.time():.3f}", cancelled_by=principal.subject,
            reviewer=principal.subject, comment=record.get("comment") or "cancelled")
        logger.info("[%s] alert %s cancelled by %s", record.get("source_id"),
                    record["alert_id"], principal.subject)
        return web.json_response(alert)

    @api_handler
    async def review(self, request: web.Request) -> web.Response:
        principal, record = await self._load(request, "review")
        body = await read_json_object(request)
        review = body.get("review")
        if review not in REVIEWS:
            raise ApiError(422, "invalid", f"review must be one of {', '.join(REVIEWS)}",
                           field="review")
        comment = body.get("comment")
        if comment is not None and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
            raise ApiError(422, "invalid", f"comment must be a string of at most "
                           f"{MAX_COMMENT} characters", field="comment")
        alert = await self._store.review(record["alert_id"], review, principal.subject, comment)
        return web.json_response(alert)

    @api_handler
    async def snapshot(self, request: web.Request) -> web.StreamResponse:
        _, record = await self._load(request, "view")
        return web.FileResponse(await self._file(record, "snapshot"),
                                headers={"Content-Type": "image/jpeg",
                                         "Cache-Control": "private, max-age=3600"})

    @api_handler
    async def clip(self, request: web.Request) -> web.StreamResponse:
        _, record = await self._load(request, "view")
        # FileResponse answers Range requests with 206 + Content-Range
        return web.FileResponse(await self._file(record, "clip"),
                                headers={"Content-Type": "video/mp4",
                                         "Cache-Control": "private, max-age=3600"})


def _time(raw: str | None, name: str) -> float | None:
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, "bad_param", f"{name} must be Unix seconds") from None
    if not math.isfinite(value):
        raise ApiError(400, "bad_param", f"{name} must be Unix seconds")
    return value


def _location(raw: Any) -> dict[str, float] | None:
    if raw is None:
        return None
    ok = isinstance(raw, dict) and set(raw) == {"lat", "lon"} and all(
        isinstance(raw[k], int | float) and not isinstance(raw[k], bool) for k in raw)
    if not ok or not (-90 <= raw["lat"] <= 90 and -180 <= raw["lon"] <= 180):
        raise ApiError(422, "invalid", "location must be {lat: -90..90, lon: -180..180}",
                       field="location")
    return {"lat": float(raw["lat"]), "lon": float(raw["lon"])}


def _matcher(q: Any, visible: Callable[[dict[str, str]], bool]
             ) -> Callable[[dict[str, str]], bool]:
    filters: dict[str, str] = {}
    for name, allowed in (("kind", KINDS), ("state", STATES), ("review", REVIEWS)):
        value = q.get(name)
        if value:
            if value not in allowed:
                raise ApiError(400, "bad_param", f"{name} must be one of {', '.join(allowed)}")
            filters[name] = value
    source = q.get("source") or None
    group = q.get("group") or None
    acknowledged = q.get("acknowledged")
    if acknowledged not in (None, "", "true", "false"):
        raise ApiError(400, "bad_param", "acknowledged must be true or false")

    def match(record: dict[str, str]) -> bool:
        if any(record.get(k) != v for k, v in filters.items()):
            return False
        if source is not None and record.get("source_id") != source:
            return False
        if group is not None and not group_in_scope((group,), record.get("group", "")):
            return False
        if acknowledged in ("true", "false") and \
                bool(record.get("acknowledged_at")) != (acknowledged == "true"):
            return False
        return visible(record)

    return match
