"""``limit`` / ``offset`` / ``cursor`` query parameters of the list routes."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from ..errors import ApiError

MAX_OFFSET = 10_000_000


@dataclass(frozen=True, slots=True)
class Pagination:
    limit: int
    offset: int
    cursor: str | None


def parse_pagination(request: web.Request, *, default_limit: int = 100,
                     max_limit: int = 1000) -> Pagination:
    """``limit`` (1..max_limit), ``offset`` (>= 0) or ``cursor`` (the last id of a page)."""
    query = request.rel_url.query
    limit = _int_param(query.get("limit"), "limit", default_limit)
    offset = _int_param(query.get("offset"), "offset", 0)
    if not 1 <= limit <= max_limit:
        raise ApiError(400, "bad_param", f"limit must be between 1 and {max_limit}")
    if not 0 <= offset <= MAX_OFFSET:
        raise ApiError(400, "bad_param", f"offset must be between 0 and {MAX_OFFSET}")
    cursor = query.get("cursor") or None
    if cursor is not None and offset:
        raise ApiError(400, "bad_param", "use either offset or cursor")
    if cursor is not None and len(cursor) > 256:
        raise ApiError(400, "bad_param", "cursor too long")
    return Pagination(limit, offset, cursor)


def _int_param(raw: str | None, name: str, default: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, "bad_param", f"{name} must be an integer") from None
