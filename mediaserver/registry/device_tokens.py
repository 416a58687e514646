"""Device tokens issued on the admin page, and their revocation.

Contract keys (``{p}`` is ``RedisConfig.prefix``)::

    {p}devtoken:{jti}   hash: source, subject, issued_by, issued_at, expires_at (never the
                        token itself)
    {p}devtokens        sorted set of jti by expiry (expired entries are pruned on listing)
    {p}revoked:{jti}    string with a TTL until the token would have expired: access control
                        refuses a device token whose jti is here

Tokens made with ``fusionhub token`` are not listed (they were never recorded) but can be
revoked by their ``jti`` all the same.
"""

from __future__ import annotations

import re
import time
from typing import Any

from redis.asyncio import Redis

JTI_RE = re.compile(r"^[A-Za-z0-9_-]{8,64}$")
MAX_LISTED = 10_000
#: kept a little past expiry: the hub accepts tokens 30 s after ``exp`` (clock leeway)
LEEWAY = 60


class DeviceTokens:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._p = prefix

    async def record(self, jti: str, *, source: str, subject: str, issued_by: str,
                     expires_at: int) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(f"{self._p}devtoken:{jti}", mapping={
                "jti": jti, "source": source, "subject": subject, "issued_by": issued_by,
                "issued_at": str(int(time.time())), "expires_at": str(expires_at)})
            pipe.expireat(f"{self._p}devtoken:{jti}", expires_at + LEEWAY)
            pipe.zadd(f"{self._p}devtokens", {jti: expires_at})
            await pipe.execute()

    async def list(self) -> list[dict[str, Any]]:
        now = int(time.time())
        await self._redis.zremrangebyscore(f"{self._p}devtokens", "-inf", now - LEEWAY)
        jtis = await self._redis.zrange(f"{self._p}devtokens", 0, MAX_LISTED - 1)
        out = []
        for jti in jtis:
            data = await self._redis.hgetall(f"{self._p}devtoken:{jti}")
            if data:
                out.append({**data, "issued_at": int(data.get("issued_at", 0)),
                            "expires_at": int(data.get("expires_at", 0))})
        return out

    async def revoke(self, jti: str, expires_at: int | None = None) -> bool:
        """Refuse the token from now on; False when ``jti`` is malformed."""
        if not JTI_RE.fullmatch(jti):
            return False
        if expires_at is None:
            stored = await self._redis.hget(f"{self._p}devtoken:{jti}", "expires_at")
            expires_at = int(stored) if stored else int(time.time()) + 366 * 24 * 3600
        ttl = max(1, expires_at + LEEWAY - int(time.time()))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"{self._p}revoked:{jti}", "1", ex=ttl)
            pipe.delete(f"{self._p}devtoken:{jti}")
            pipe.zrem(f"{self._p}devtokens", jti)
            await pipe.execute()
        return True

    async def is_revoked(self, jti: str) -> bool:
        return bool(await self._redis.exists(f"{self._p}revoked:{jti}"))
