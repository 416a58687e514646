"""Open the hub's Redis: the configured ``redis.url``, or the embedded server when unset."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from ..config import RedisConfig
from ..errors import ConfigError, UpstreamError
from ..redact import redact_url, scrub
from .embedded import EmbeddedRedis

logger = logging.getLogger(__name__)

#: Connections one client may hold; a command waits up to ``POOL_TIMEOUT`` s for a free one.
POOL_SIZE = 64
POOL_TIMEOUT = 20.0
CONNECT_TIMEOUT = 5.0


def reraise_if_cancelling(exc: BaseException) -> None:
    """Call in an ``except RedisError`` block: redis-py can turn a cancellation of the current
    task into a ConnectionError (redis/redis-py#2028, #2665); re-raise it as cancellation so
    ``aclose()`` never hangs on a loop that swallowed it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc


async def cancel_and_wait(*tasks: asyncio.Task[object] | None, retry: float = 0.5) -> None:
    """Cancel ``tasks`` and wait until they are done, cancelling again every ``retry`` s in
    case a library swallowed the cancellation (redis-py can, under races)."""
    pending = {t for t in tasks if t is not None and not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=retry)


@dataclass
class RedisHandle:
    """A connected client; ``url`` is safe to log (credentials redacted)."""

    client: aioredis.Redis
    url: str
    embedded: EmbeddedRedis | None = None

    async def aclose(self) -> None:
        """Close the client's connections, then stop the embedded server if we started it."""
        try:
            await self.client.aclose()
        finally:
            if self.embedded is not None:
                await self.embedded.aclose()


def make_client(url: str) -> aioredis.Redis:
    """A text-mode client (``decode_responses=True``) with a bounded, blocking pool."""
    try:
        pool = aioredis.BlockingConnectionPool.from_url(
            url, decode_responses=True, max_connections=POOL_SIZE, timeout=POOL_TIMEOUT,
            socket_connect_timeout=CONNECT_TIMEOUT, health_check_interval=30)
    except ValueError as exc:
        raise ConfigError(f"redis.url is not a valid Redis URL: {scrub(str(exc))}") from None
    return aioredis.Redis(connection_pool=pool)


async def open_redis(config: RedisConfig, data_dir: Path) -> RedisHandle:
    """Connect to ``config.url`` (raising :class:`UpstreamError` when it does not answer) or
    start the embedded server under ``data_dir/redis`` and connect to it."""
    embedded: EmbeddedRedis | None = None
    url = config.url
    if url is None:
        embedded = EmbeddedRedis(data_dir)
        url = await embedded.start()
    client = make_client(url)
    safe = redact_url(url)
    try:
        await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT + 1)
    except (RedisError, OSError, TimeoutError) as exc:
        await client.aclose()
        if embedded is not None:
            await embedded.aclose()
        raise UpstreamError(f"Redis at {safe} is unreachable: "
                            f"{scrub(str(exc)) or type(exc).__name__}") from None
    logger.info("connected to Redis at %s%s", safe, " (embedded)" if embedded else "")
    return RedisHandle(client=client, url=safe, embedded=embedded)
