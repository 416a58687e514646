"""Sources REST API: CRUD, bulk import, group tree and per-source status.

Routes (all JSON, see :mod:`mediaserver.api.util` for the error shape)::

    GET    /api/v1/sources                  view   ?limit&offset|cursor&group&state&q
    POST   /api/v1/sources                  admin  201 + Location
    POST   /api/v1/sources/import           admin  ?mode=upsert|create; CSV, JSON or NDJSON
    GET    /api/v1/sources/{id}             view
    PATCH  /api/v1/sources/{id}             admin  JSON merge patch (RFC 7396)
    DELETE /api/v1/sources/{id}             admin  204
    GET    /api/v1/sources/{id}/status      view
    GET    /api/v1/groups                   view   {"groups": {path: count incl. subgroups}}

A source outside the caller's groups answers 404, exactly like a missing one. Responses show
sources through :func:`~mediaserver.registry.sources.public_view` (no URL credentials).
``on_change(kind, source_id)`` is awaited after each write with kind ``created``, ``updated``
(url, publish, always_on or transport changed: the stream must restart), ``metadata`` (only
other fields changed: name, group, tags, recording...) or ``deleted``; a bulk import reports
its rows the same way (rows written unchanged are ``metadata`` too).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..config import SourceConfig
from ..config.sources import GROUP_PATTERN, SOURCE_ID_PATTERN
from ..json_limits import JsonTooDeep
from ..registry.importer import ImportFormatError, RowError, detect_format, parse, validate_rows
from ..registry.sources import (
    CREATED,
    EXISTS,
    MEDIA_CHANGED,
    STATES,
    UPDATED,
    SourceExists,
    SourceRegistry,
    public_view,
)
from ..registry.status import StatusBoard
from .util import Access, ApiError, api_handler, parse_pagination, read_body, read_json_object

logger = logging.getLogger(__name__)

OnChange = Callable[[str, str], Awaitable[None]]
IMPORT_LIMIT = 64 * 1024 * 1024
MAX_REPORTED_ERRORS = 1000
_ID = re.compile(SOURCE_ID_PATTERN)
_GROUP = re.compile(GROUP_PATTERN)


def _valid_group(group: str) -> bool:
    return len(group) <= 256 and _GROUP.match(group) is not None and \
        not any(seg.strip(".") == "" for seg in group.split("/"))


async def _ignore(kind: str, source_id: str) -> None:
    return None


class SourcesApi:
    """Handlers for the sources routes; construct with its collaborators, then
    :meth:`add_routes`."""

    def __init__(self, registry: SourceRegistry, status_board: StatusBoard, access: Access,
                 on_change: OnChange | None = None, *, import_limit: int = IMPORT_LIMIT) -> None:
        self.registry = registry
        self.status = status_board
        self.access = access
        self.on_change = on_change or _ignore
        self.import_limit = import_limit
        self._import_lock = asyncio.Lock()

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/sources", self.list_sources)
        r.add_post("/api/v1/sources", self.create_source)
        r.add_post("/api/v1/sources/import", self.import_sources)
        r.add_get("/api/v1/sources/{id}", self.get_source)
        r.add_patch("/api/v1/sources/{id}", self.patch_source)
        r.add_delete("/api/v1/sources/{id}", self.delete_source)
        r.add_get("/api/v1/sources/{id}/status", self.get_status)
        r.add_get("/api/v1/groups", self.list_groups)

    # -- helpers ------------------------------------------------------------------------

    async def _principal(self, request: web.Request, action: str) -> Any:
        principal = await self.access.authenticate(request)
        self.access.require(principal, action)
        return principal

    async def _visible_source(self, request: web.Request, principal: Any) -> SourceConfig:
        source_id = request.match_info["id"]
        source = await self.registry.get(source_id) if _ID.match(source_id) else None
        if source is None or not self.access.sees_group(principal, source.group):
            raise ApiError(404, "not_found", "no such source")
        return source

    def _require_group(self, principal: Any, group: str) -> None:
        if not self.access.sees_group(principal, group):
            raise ApiError(403, "forbidden", f"group {group!r} is outside your scope")

    async def _notify(self, kind: str, source_id: str) -> None:
        try:
            await self.on_change(kind, source_id)
        except Exception:  # noqa: BLE001 - the write succeeded; a failed hook is only logged
            logger.exception("[%s] on_change(%s) failed", source_id, kind)

    async def _view(self, source: SourceConfig) -> dict[str, Any]:
        return {**public_view(source), "status": await self.status.get(source.id)}

    # -- handlers -----------------------------------------------------------------------

    @api_handler
    async def list_sources(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "view")
        page = parse_pagination(request)
        query = request.rel_url.query
        group = query.get("group") or None
        state = query.get("state") or None
        q = query.get("q") or None
        if group is not None and not _valid_group(group):
            raise ApiError(400, "bad_param", "group is not a valid group path")
        if state is not None and state not in STATES:
            raise ApiError(400, "bad_param", f"state must be one of {', '.join(STATES)}")
        if q is not None and len(q) > 200:
            raise ApiError(400, "bad_param", "q is too long")
        result = await self.registry.list(
            group=group, state=state, q=q, limit=page.limit, offset=page.offset,
            cursor=page.cursor, visible=lambda g: self.access.sees_group(principal, g))
        statuses = await self.status.get_many(s.id for s in result.items)
        items = [{**public_view(s), "status": st}
                 for s, st in zip(result.items, statuses, strict=True)]
        return web.json_response({"items": items, "total": result.total, "limit": page.limit,
                                  "offset": page.offset, "next_cursor": result.next_cursor})

    @api_handler
    async def create_source(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "admin")
        body = await read_json_object(request)
        # off the loop: a file:// URL is resolved on disk against pull.file_roots
        source = await asyncio.to_thread(self.registry.validate, body)
        self._require_group(principal, source.group)
        try:
            await self.registry.put(source, create_only=True)
        except SourceExists:
            raise ApiError(409, "exists", f"source {source.id!r} already exists") from None
        logger.info("[%s] source created", source.id)
        await self._notify("created", source.id)
        return web.json_response(await self._view(source), status=201,
                                 headers={"Location": f"/api/v1/sources/{source.id}"})

    @api_handler
    async def get_source(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "view")
        return web.json_response(await self._view(await self._visible_source(request,
                                                                              principal)))

    @api_handler
    async def patch_source(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "admin")
        current = await self._visible_source(request, principal)
        changes = await read_json_object(request)
        if isinstance(changes.get("group"), str):
            self._require_group(principal, changes["group"])
        source, _old, result = await self.registry.patch_detailed(current.id, changes)
        logger.info("[%s] source updated (%s)", source.id, ", ".join(sorted(changes)))
        await self._notify("updated" if result == MEDIA_CHANGED else "metadata", source.id)
        return web.json_response(await self._view(source))

    @api_handler
    async def delete_source(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "admin")
        source = await self._visible_source(request, principal)
        if await self.registry.delete(source.id):
            self.status.forget(source.id)
            logger.info("[%s] source deleted", source.id)
            await self._notify("deleted", source.id)
        return web.Response(status=204)

    @api_handler
    async def get_status(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "view")
        source = await self._visible_source(request, principal)
        return web.json_response({"source_id": source.id, **await self.status.get(source.id)})

    @api_handler
    async def list_groups(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "view")
        tree = await self.registry.groups(lambda g: self.access.sees_group(principal, g))
        return web.json_response({"groups": tree})

    @api_handler
    async def import_sources(self, request: web.Request) -> web.Response:
        principal = await self._principal(request, "admin")
        mode = request.rel_url.query.get("mode", "upsert")
        if mode not in ("upsert", "create"):
            raise ApiError(400, "bad_param", "mode must be upsert or create")
        if self._import_lock.locked():
            raise ApiError(429, "busy", "another import is running", retry_after=5)
        async with self._import_lock:
            body = await read_body(request, self.import_limit)
            try:
                fmt = detect_format(request.headers.get("Content-Type"), body)
            except ImportFormatError as exc:
                raise ApiError(415, "unsupported_media_type", str(exc)) from None
            try:  # parsing and validation are CPU-bound: off the event loop
                valid, errors = await asyncio.to_thread(self._parse_validate, body, fmt)
            except ImportFormatError as exc:
                raise ApiError(400, "bad_body", str(exc)) from None
            except JsonTooDeep as exc:
                raise ApiError(413, "too_large", str(exc)) from None
            return web.json_response(await self._write_import(principal, valid, errors, fmt,
                                                              mode == "create"))

    def _parse_validate(self, body: bytes, fmt: str) -> tuple[list[Any], list[RowError]]:
        return validate_rows(parse(body, fmt), self.registry.allowed_schemes,
                             self.registry.file_roots)

    async def _write_import(self, principal: Any, valid: list[Any], errors: list[RowError],
                            fmt: str, create_only: bool) -> dict[str, Any]:
        allowed = []
        for row, source in valid:
            if self.access.sees_group(principal, source.group):
                allowed.append((row, source))
            else:
                errors.append(RowError(row.row, source.id, "group", "outside your scope",
                                       row.line))
        results = await self.registry.bulk_write((s for _, s in allowed),
                                                 create_only=create_only)
        counts = {CREATED: 0, EXISTS: 0}
        for (row, source), result in zip(allowed, results, strict=True):
            if result == EXISTS:
                errors.append(RowError(row.row, source.id, "id", "already exists", row.line))
            counts[result] = counts.get(result, 0) + 1
            if result in (CREATED, MEDIA_CHANGED):
                await self._notify("created" if result == CREATED else "updated", source.id)
            elif result == UPDATED:
                await self._notify("metadata", source.id)
        errors.sort(key=lambda e: e.row)
        imported = len(allowed) - counts[EXISTS]
        logger.info("import (%s): %d written, %d failed", fmt, imported, len(errors))
        return {"format": fmt, "imported": imported, "created": counts[CREATED],
                "updated": imported - counts[CREATED], "failed": len(errors),
                "errors": [e.as_dict() for e in errors[:MAX_REPORTED_ERRORS]],
                "errors_truncated": len(errors) > MAX_REPORTED_ERRORS}
