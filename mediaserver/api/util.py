"""JSON error responses, exception mapping, bounded body reading and pagination parsing.

Every API error is ``{"error": {"code": "...", "message": "..."}}`` (plus ``field`` for
validation errors) with the matching status: 400 bad JSON or parameters, 401/403 access,
404 not found, 409 exists, 413 body too large, 415 media type, 422 validation, 429 busy,
503 store unavailable.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import json_limits
from ..errors import AccessDenied, SourceInvalid, SourceNotFound
from ..redact import scrub
from ..store.connection import reraise_if_cancelling

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
JSON_LIMIT = 64 * 1024
MAX_OFFSET = 10_000_000


ACTIONS = ("view", "operate", "review", "admin", "publish")


class Access(Protocol):
    """Authorization as the API handlers use it (implemented in ``mediaserver.api.auth``).

    ``authenticate`` reads the request's credentials (``Authorization: Bearer``) and returns
    an opaque principal or raises ``AccessDenied(msg, status=401)``; ``require`` raises
    ``AccessDenied`` (403) unless the principal may do ``action`` (one of :data:`ACTIONS`);
    ``sees_group`` tells whether the principal may see sources of that group path.
    """

    async def authenticate(self, request: web.Request) -> Any: ...

    def require(self, principal: Any, action: str) -> None: ...

    def sees_group(self, principal: Any, group: str) -> bool: ...


async def authorize(access: Access, request: web.Request, action: str) -> Any:
    """The request's principal, once it may do ``action`` (401/403 ``AccessDenied``)."""
    principal = await access.authenticate(request)
    access.require(principal, action)
    return principal


class ApiError(Exception):
    """An error with its HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
               **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": scrub(message), **extra}}
    return web.json_response(body, status=status, headers=headers)


#: statuses an AccessDenied may carry (404 hides sources outside the token's groups)
_DENIED_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found"}


def _map(exc: Exception) -> web.Response:
    if isinstance(exc, ApiError):
        headers = {"Retry-After": str(exc.extra.pop("retry_after"))} \
            if "retry_after" in exc.extra else None
        return json_error(exc.status, exc.code, exc.message, headers=headers, **exc.extra)
    if isinstance(exc, AccessDenied):
        status = exc.status if exc.status in _DENIED_CODES else 403
        headers = {"WWW-Authenticate": 'Bearer realm="fusionhub"'} if status == 401 else None
        return json_error(status, _DENIED_CODES[status], str(exc) or "access denied",
                          headers=headers)
    if isinstance(exc, SourceNotFound):
        return json_error(404, "not_found", "no such source")
    if isinstance(exc, SourceInvalid):
        field, reason = getattr(exc, "field", None), getattr(exc, "code", None)
        extra = {"field": field} if field else {}
        if reason:
            extra["reason"] = reason  # stable word the web app translates
        return json_error(422, "invalid", str(exc), **extra)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        logger.warning("store unavailable: %s", scrub(str(exc)))
        return json_error(503, "unavailable", "the store is unavailable; retry later",
                          headers={"Retry-After": "5"})
    raise exc


def api_handler(func: Callable[..., Awaitable[web.StreamResponse]]
                ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Decorate a handler (function or method) so that hub exceptions become JSON errors."""

    @functools.wraps(func)
    async def wrapper(*args: Any) -> web.StreamResponse:
        try:
            return await func(*args)
        except (ApiError, AccessDenied, SourceNotFound, SourceInvalid, RedisConnectionError,
                RedisTimeoutError) as exc:
            reraise_if_cancelling(exc)
            return _map(exc)

    return wrapper


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
