"""Bounded request bodies: never read more than the limit (413 past it, declared or streamed)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import json_limits
from ..errors import ApiError

JSON_LIMIT = 64 * 1024


async def read_body(request: web.Request, limit: int) -> bytes:
    """The request body, refusing (413) anything over ``limit`` bytes without reading it all."""
    declared = request.content_length
    if declared is not None and declared > limit:
        _too_large(request, limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(256 * 1024):
        size += len(chunk)
        if size > limit:
            _too_large(request, limit)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(request: web.Request, limit: int) -> None:
    # aiohttp then reads and discards the rest for at most its lingering time (10 s), so that
    # the client can read the answer (closing at once would reset the connection)
    raise ApiError(413, "too_large", f"body exceeds {limit} bytes")


async def read_json(request: web.Request, limit: int = JSON_LIMIT) -> Any:
    body = await read_body(request, limit)
    try:
        return json_limits.loads(body)
    except json_limits.JsonTooDeep as exc:
        raise ApiError(413, "too_large", str(exc)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, "bad_json", f"body is not valid JSON: {exc}") from None
    except RecursionError:  # "[[[[..." deeper than the interpreter's recursion limit
        raise ApiError(400, "bad_json", "body is not valid JSON: nested too deeply") from None


async def read_json_object(request: web.Request, limit: int = JSON_LIMIT) -> dict[str, Any]:
    data = await read_json(request, limit)
    if not isinstance(data, dict):
        raise ApiError(400, "bad_json", "body must be a JSON object")
    return data
