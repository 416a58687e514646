"""The embedded Valkey server: persistence across restarts, clean shutdown, clear errors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from mediaserver.config import RedisConfig
from mediaserver.errors import ConfigError, UpstreamError
from mediaserver.store.connection import make_client, open_redis
from mediaserver.store.embedded import EmbeddedRedis


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); it is gone for our purposes only once reaped
    return Path(f"/proc/{pid}").exists()


async def test_data_persists_across_restart_and_aclose_leaves_no_process(tmp_path: Path):
    handle = await open_redis(RedisConfig(), tmp_path)
    assert handle.embedded is not None
    pid = handle.embedded.pid
    assert pid is not None and _alive(pid)
    assert handle.url.startswith("redis://127.0.0.1:")
    assert await handle.client.config_get("appendonly") == {"appendonly": "yes"}
    await handle.client.hset("fh:source:cam-1", mapping={"id": "cam-1", "group": "a/b"})
    await handle.client.sadd("fh:sources", "cam-1")
    await handle.aclose()

    assert not _alive(pid)
    assert not (tmp_path / "redis" / "fusionhub-valkey.pid").exists()
    assert (tmp_path / "redis" / "appendonlydir").is_dir()

    handle = await open_redis(RedisConfig(), tmp_path)
    try:
        assert await handle.client.hgetall("fh:source:cam-1") == {"id": "cam-1", "group": "a/b"}
        assert await handle.client.smembers("fh:sources") == {"cam-1"}
    finally:
        await handle.aclose()


async def test_second_server_on_same_data_dir_is_refused(embedded: EmbeddedRedis,
                                                         tmp_path: Path):
    other = EmbeddedRedis(tmp_path)
    with pytest.raises(ConfigError, match="already serves"):
        await other.start()


async def test_unix_socket_mode(tmp_path: Path):
    short = Path("/tmp") / f"fh-{os.getpid()}-{tmp_path.name[-8:]}"
    server = EmbeddedRedis(short, unix_socket=True)
    url = await server.start()
    try:
        assert url.startswith("unix://")
        client = make_client(url)
        assert await client.ping()
        await client.aclose()
    finally:
        await server.aclose()
        shutil.rmtree(short, ignore_errors=True)


async def test_unreachable_url_is_a_clear_error_without_credentials(tmp_path: Path):
    config = RedisConfig(url="redis://:hunter2-pw@127.0.0.1:1/0")
    with pytest.raises(UpstreamError) as info:
        await open_redis(config, tmp_path)
    assert "unreachable" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert not (tmp_path / "redis").exists()  # no embedded server was started


async def test_malformed_url_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError):
        await open_redis(RedisConfig(url="nosuch://x"), tmp_path)
