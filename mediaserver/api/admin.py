"""Admin helpers behind the admin page (admin role): test a camera URL before saving it, and
issue a device token for a source.

Routes::

    POST /api/v1/sources/probe   {"url": "rtsp://…"} → {"state", "codec", "width", "height",
                                 "error", "latency_ms"} (DESCRIBE only, credentials never
                                 echoed; only the schemes pulls allow)
    POST /api/v1/tokens          {"source": id, "ttl": seconds} → {"token", "token_id",
                                 "expires_at"}: a device token that publishes that source only
    GET  /api/v1/tokens          the device tokens issued here (never the tokens themselves)
    DELETE /api/v1/tokens/{token_id}  revoke: refused everywhere from now on (HTTP, WHIP,
                                 RTSP, RTMP) — 204
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import jwt
from aiohttp import web

from ..errors import ApiError
from ..http.access import authorize
from ..http.body import read_json_object
from ..http.errors import api_handler
from ..http.principal import is_valid_source_id
from ..redact import redact_url
from ..registry.device_tokens import DeviceTokens
from ..sources.rtsp_probe import ProbeResult

logger = logging.getLogger(__name__)

Probe = Callable[..., Awaitable[ProbeResult]]
MAX_TOKEN_TTL = 366 * 24 * 3600
PROBE_TIMEOUT = 5.0


class AdminApi:
    def __init__(self, access: Any, registry: Any, probe: Probe, tokens: DeviceTokens,
                 allowed_schemes: Iterable[str] | None = None) -> None:
        self.access = access
        self.registry = registry
        self.tokens = tokens
        self.probe = probe
        self.allowed = frozenset(allowed_schemes) if allowed_schemes is not None else None

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/api/v1/sources/probe", self.probe_url)
        app.router.add_post("/api/v1/tokens", self.issue_token)
        app.router.add_get("/api/v1/tokens", self.list_tokens)
        app.router.add_delete("/api/v1/tokens/{token_id}", self.revoke_token)


    @api_handler
    async def probe_url(self, request: web.Request) -> web.Response:
        await authorize(self.access, request, "admin")
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
        principal = await authorize(self.access, request, "admin")
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
        claims = jwt.decode(token, options={"verify_signature": False})  # we just signed it
        await self.tokens.record(claims["jti"], source=source_id, subject=source_id,
                                 issued_by=principal.subject, expires_at=claims["exp"])
        logger.info("[%s] device token %s issued by %s, valid %d s", source_id, claims["jti"],
                    principal.subject, ttl)
        return web.json_response({"token": token, "token_id": claims["jti"],
                                  "source": source_id, "expires_at": claims["exp"]},
                                 status=201)

    @api_handler
    async def list_tokens(self, request: web.Request) -> web.Response:
        await authorize(self.access, request, "admin")
        return web.json_response({"items": await self.tokens.list()})

    @api_handler
    async def revoke_token(self, request: web.Request) -> web.Response:
        principal = await authorize(self.access, request, "admin")
        token_id = request.match_info["token_id"]
        if not await self.tokens.revoke(token_id):
            raise ApiError(404, "not_found", "no such token")
        logger.info("device token %s revoked by %s", token_id, principal.subject)
        return web.Response(status=204)
