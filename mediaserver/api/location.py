"""``POST /api/v1/sources/{id}/location``: a field device reports its GPS position.

Body ``{"lat": 39.9, "lon": 116.4, "accuracy"?: metres, "ts"?: Unix seconds}``. Allowed for a
``device`` token of that very source and for ``admin`` (action ``publish``). The position is
stored as the source record's ``location`` (``{lat, lon}``) and published on ``{p}live`` as
``{"v": 1, "type": "location", "source_id", "group", "location": {lat, lon, accuracy, ts}}``,
which the events WebSocket forwards to clients that see the group. A source accepts one report
per ``min_interval`` seconds (429 with ``Retry-After`` past it).
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Protocol

from aiohttp import web
from redis.asyncio import Redis

from ..errors import ApiError
from ..http.body import read_json_object
from ..http.errors import api_handler

logger = logging.getLogger(__name__)

EVENT_VERSION = 1
MAX_BODY = 1024
_MAX_CLOCK_SKEW = 24 * 3600.0


class _Access(Protocol):
    async def source_for(self, request: web.Request, source_id: str, action: str
                         ) -> tuple[Any, Any]: ...


class _Registry(Protocol):
    async def patch(self, source_id: str, changes: dict[str, Any]) -> Any: ...


def _number(data: dict[str, Any], key: str, low: float, high: float, *,
            required: bool = True) -> float | None:
    value = data.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or \
            not math.isfinite(value):
        raise ApiError(422, "invalid", f"{key} must be a number", field=key)
    if not low <= value <= high:
        raise ApiError(422, "invalid", f"{key} must be between {low:g} and {high:g}",
                       field=key)
    return float(value)


def parse_location(data: dict[str, Any], now: float) -> dict[str, float]:
    """Validate a report; unknown keys are refused (422) like everywhere in the API."""
    unknown = set(data) - {"lat", "lon", "accuracy", "ts"}
    if unknown:
        raise ApiError(422, "invalid", f"unknown field {sorted(unknown)[0]!r}",
                       field=sorted(unknown)[0])
    lat = _number(data, "lat", -90, 90)
    lon = _number(data, "lon", -180, 180)
    accuracy = _number(data, "accuracy", 0, 1_000_000, required=False)
    ts = _number(data, "ts", now - _MAX_CLOCK_SKEW, now + _MAX_CLOCK_SKEW, required=False)
    out = {"lat": lat, "lon": lon, "ts": ts if ts is not None else round(now, 3)}
    if accuracy is not None:
        out["accuracy"] = accuracy
    return out  # type: ignore[return-value]


class LocationApi:
    def __init__(self, registry: _Registry, access: _Access, redis: Redis, *,
                 prefix: str = "fh:", min_interval: float = 1.0) -> None:
        self._registry = registry
        self._access = access
        self._redis = redis
        self._channel = f"{prefix}live"
        self._min_interval = min_interval
        self._last: dict[str, float] = {}
        self.accepted = 0
        self.rejected = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/sources/{source_id}/location", self.post)

    @api_handler
    async def post(self, request: web.Request) -> web.Response:
        source_id = request.match_info["source_id"]
        try:
            _, source = await self._access.source_for(request, source_id, "publish")
            data = await read_json_object(request, MAX_BODY)
            now = time.time()
            location = parse_location(data, now)
            last = self._last.get(source_id, 0.0)
            if now - last < self._min_interval:
                raise ApiError(429, "busy", "location reported too often",
                               retry_after=max(1, math.ceil(self._min_interval)))
        except Exception:
            self.rejected += 1
            raise
        self._last[source_id] = now
        if len(self._last) > 100_000:  # bounded: forget the oldest reporters
            for key in sorted(self._last, key=self._last.__getitem__)[:10_000]:
                del self._last[key]
        await self._registry.patch(source_id, {"location": {"lat": location["lat"],
                                                            "lon": location["lon"]}})
        event = {"v": EVENT_VERSION, "type": "location", "source_id": source_id,
                 "group": source.group, "location": location}
        await self._redis.publish(self._channel, json.dumps(event, separators=(",", ":")))
        self.accepted += 1
        logger.debug("[%s] location %.5f,%.5f", source_id, location["lat"], location["lon"])
        return web.json_response({"source_id": source_id, "location": location})
