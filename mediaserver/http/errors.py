"""JSON error answers: every HTTP error is ``{"error": {"code": "...", "message": "..."}}``
(plus ``field`` for validation errors) with the matching status, from the one mapping in
:func:`mediaserver.errors.refusal`: 400 bad JSON or parameters, 401/403 access, 404 not found,
409 exists, 413 body too large, 415 media type, 422 validation, 429 busy, 503 store
unavailable. Messages never carry a credential.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ..errors import FusionhubError, Refusal, refusal
from ..redact import scrub
from ..store.connection import reraise_if_cancelling

logger = logging.getLogger(__name__)

STORE_UNAVAILABLE = Refusal(503, "unavailable", "the store is unavailable; retry later",
                            {"Retry-After": "5"})


def json_error(status: int, code: str, message: str, headers: dict[str, str] | None = None,
               **extra: Any) -> web.Response:
    body = {"error": {"code": code, "message": scrub(message), **extra}}
    return web.json_response(body, status=status, headers=headers)


def answer(exc: BaseException) -> Refusal | None:
    """:func:`~mediaserver.errors.refusal`, and 503 when the Redis store is unreachable."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        logger.warning("store unavailable: %s", scrub(str(exc)))
        return STORE_UNAVAILABLE
    return refusal(exc)


def error_response(refused: Refusal, headers: dict[str, str] | None = None) -> web.Response:
    """The JSON answer for a refusal; ``headers`` (CORS) go first, the refusal's win."""
    return json_error(refused.status, refused.code, refused.message,
                      {**(headers or {}), **refused.headers} or None, **refused.extra)


def api_handler(func: Callable[..., Awaitable[web.StreamResponse]]
                ) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Decorate a handler (function or method) so that hub exceptions become JSON errors."""

    @functools.wraps(func)
    async def wrapper(*args: Any) -> web.StreamResponse:
        try:
            return await func(*args)
        except (FusionhubError, RedisConnectionError, RedisTimeoutError) as exc:
            reraise_if_cancelling(exc)
            refused = answer(exc)
            if refused is None:
                raise
            return error_response(refused)

    return wrapper
