"""Fixtures for the registry tests: a real embedded Valkey server per test (≈0.2 s)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis

from mediaserver.store.connection import make_client
from mediaserver.store.embedded import EmbeddedRedis


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path)
    await server.start()
    try:
        yield server
    finally:
        await server.aclose()


@pytest.fixture
async def redis(embedded: EmbeddedRedis) -> AsyncIterator[Redis]:
    client = make_client(embedded.url)
    try:
        yield client
    finally:
        await client.aclose()
