"""Admin helpers behind the admin page (admin role): test a camera URL before saving it, and
issue a device token for a source.

Routes::

    POST /api/v1/sources/probe   {"url": "rtsp://…"} → {"state", "codec", "width", "height",
                                 "error", "latency_ms"} (DESCRIBE only, credentials never
                                 echoed; only the schemes pulls allow)
    POST /api/v1/tokens          {"source": id, "ttl": seconds} → {"token", "expires_at"}:
                                 a device token that publishes that source only
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiohttp import web

from ..ingest.rtsp_probe import ProbeResult
from ..redact import redact_url
from .principal import is_valid_source_id
from .util import ApiError, api_handler, read_json_object

logger = logging.getLogger(__name__)

Probe = Callable[..., Awaitable[ProbeResult]]
MAX_TOKEN_TTL = 366 * 24 * 3600
PROBE_TIMEOUT = 5.0


class AdminApi:
    def __init__(self, access: Any, registry: Any, probe: Probe,
                 allowed_schemes: Iterable[str] | None = None) -> None:
        self.access = access
        self.registry = registry
        self.probe = probe
        self.allowed = frozenset(allowed_schemes) if allowed_schemes is not None else None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/sources/probe", self.probe_url)
        app.router.add_post("/api/v1/tokens", self.issue_token)

    async def _admin(self, request: web.Request) -> Any:
        principal = await self.access.authenticate(request)
        self.access.require(principal, "admin")
        return principal

    @api_handler
    async def probe_url(self, request: web.Request) -> web.Response:
        await self._admin(request)
        url = (await read_json_object(request)).get("url")
        if not isinstance(url, str) or not url.strip() or len(url) > 2048:
            raise ApiError(422, "invalid", "url is required", field="url", reason="required")
        url = url.strip()
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if self.allowed is not None and scheme not in self.allowed:
            raise ApiError(422, "invalid", f"scheme {scheme or '(none)'!r} is not allowed",
                           field="url", reason="scheme_not_allowed")
        if scheme not in ("rtsp", "rtsps"):
            return web.json_response({"state": "unknown", "error": "only rtsp:// URLs can be "
                                      "tested before saving", "url": redact_url(url)})
        result = await self.probe(url, timeout=PROBE_TIMEOUT)
        return web.json_response({"state": result.state, "codec": result.codec,
                                  "width": result.width, "height": result.height,
                                  "error": result.error,
                                  "latency_ms": round(result.latency_ms, 1),
                                  "url": redact_url(url)})

    @api_handler
    async def issue_token(self, request: web.Request) -> web.Response:
        principal = await self._admin(request)
        body = await read_json_object(request)
        source_id, ttl = body.get("source"), body.get("ttl", 30 * 24 * 3600)
        if not isinstance(source_id, str) or not is_valid_source_id(source_id):
            raise ApiError(422, "invalid", "source must be a source id", field="source",
                           reason="pattern")
        if await self.registry.get(source_id) is None:
            raise ApiError(404, "not_found", "no such source")
        if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= MAX_TOKEN_TTL:
            raise ApiError(422, "invalid", f"ttl must be 60..{MAX_TOKEN_TTL} seconds",
                           field="ttl", reason="range")
        token = self.access.issue("device", (), ttl=ttl, subject=source_id, source=source_id)
        logger.info("[%s] device token issued by %s, valid %d s", source_id,
                    principal.subject, ttl)
        return web.json_response({"token": token, "source": source_id,
                                  "expires_at": int(time.time()) + ttl}, status=201)
