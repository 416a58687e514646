"""The events WebSocket over loopback with a real Valkey: snapshot, deltas, scope, slow peers."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import WSMsgType, web
from redis.asyncio import Redis

from mediaserver.api.events_ws import EventsWebSocket
from mediaserver.config import SourceConfig
from mediaserver.errors import AccessDenied
from mediaserver.registry.sources import SourceRegistry
from mediaserver.registry.status import StatusBoard
from mediaserver.store.connection import make_client
from mediaserver.store.embedded import EmbeddedRedis


@dataclass(frozen=True)
class Principal:
    role: str
    groups: tuple[str, ...] = ()


class FakeAccess:
    """The ``Access`` protocol with tokens from a dict; reads the header only (the socket
    handler turns ``?token=`` into one)."""

    tokens = {"admin": Principal("admin"), "cy": Principal("viewer", ("beijing/chaoyang",)),
              "hd": Principal("viewer", ("beijing/haidian",)), "device": Principal("device")}

    async def authenticate(self, request: web.Request) -> Principal:
        principal = self.tokens.get(request.headers.get("Authorization", "")[7:])
        if principal is None:
            raise AccessDenied("missing or unknown token", status=401)
        return principal

    def require(self, principal: Principal, action: str) -> None:
        if principal.role == "device":
            raise AccessDenied("devices may not view", status=403)

    def sees_group(self, principal: Principal, group: str) -> bool:
        return principal.role == "admin" or any(group == g or group.startswith(g + "/")
                                                for g in principal.groups)


@dataclass
class Env:
    url: str
    redis: Redis
    status: StatusBoard
    events: EventsWebSocket
    session: aiohttp.ClientSession

    async def connect(self, token: str, **kw: Any) -> aiohttp.ClientWebSocketResponse:
        return await self.session.ws_connect(f"{self.url}/api/v1/events?token={token}", **kw)


async def _start(tmp_path: Path, **ws_kw: Any) -> tuple[Env, Any]:
    server = EmbeddedRedis(tmp_path)
    await server.start()
    redis = make_client(server.url)
    registry = SourceRegistry(redis)
    await registry.bulk_put(
        [SourceConfig(id=f"cy-{i}", group="beijing/chaoyang") for i in range(3)]
        + [SourceConfig(id=f"hd-{i}", group="beijing/haidian/x") for i in range(2)])
    status = StatusBoard(redis, node="test", interval=0.05)
    await status.start()
    status.source_state("cy-0", "online")
    events = EventsWebSocket(status, registry, FakeAccess(), redis, heartbeat=5.0, **ws_kw)
    app = web.Application()
    events.add_routes(app)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    env = Env(f"http://127.0.0.1:{port}", redis, status, events, aiohttp.ClientSession())

    async def stop() -> None:
        await runner.cleanup()  # closes the sockets and the feed (on_shutdown)
        await env.session.close()
        await status.aclose()
        await redis.aclose()
        await server.aclose()

    return env, stop


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    env, stop = await _start(tmp_path)
    try:
        yield env
    finally:
        await stop()


async def _next(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=timeout)
    assert msg.type == WSMsgType.TEXT, msg
    return json.loads(msg.data)


async def test_snapshot_then_deltas_filtered_by_group(env: Env):
    admin = await env.connect("admin")
    cy = await env.connect("cy")
    snap = await _next(admin)
    assert snap == {"v": 1, "type": "snapshot", "states": {
        "cy-0": "online", "cy-1": "offline", "cy-2": "offline", "hd-0": "offline",
        "hd-1": "offline"}}
    assert (await _next(cy))["states"] == {"cy-0": "online", "cy-1": "offline",
                                            "cy-2": "offline"}

    env.status.source_state("hd-1", "streaming", codec="h264")
    env.status.source_state("cy-2", "error", last_error="401 Unauthorized")
    delta = await _next(admin)
    assert delta["v"] == 1 and delta["type"] == "status"
    assert {(c["source_id"], c["state"]) for c in delta["changes"]} == {
        ("hd-1", "streaming"), ("cy-2", "error")}
    delta = await _next(cy)
    assert [(c["source_id"], c["state"], c["prev"]) for c in delta["changes"]] == [
        ("cy-2", "error", "offline")]

    # other event types pass through unchanged, filtered by group or source when they say
    for event in ({"v": 1, "type": "alert", "source_id": "hd-0", "kind": "fire"},
                  {"v": 1, "type": "alert", "group": "beijing/chaoyang", "kind": "smoke"},
                  {"v": 1, "type": "notice", "text": "maintenance at 22:00"},
                  {"v": 2, "type": "future"}, "not json"):
        await env.redis.publish("fh:live", event if isinstance(event, str) else
                                json.dumps(event))
    assert (await _next(admin))["source_id"] == "hd-0"
    assert (await _next(admin))["kind"] == "smoke"
    assert (await _next(admin))["type"] == "notice"
    assert (await _next(cy)) == {"v": 1, "type": "alert", "group": "beijing/chaoyang",
                                 "kind": "smoke"}
    assert (await _next(cy))["type"] == "notice"
    for _ in range(100):
        if env.events.feed.invalid == 2:
            break
        await asyncio.sleep(0.01)
    assert env.events.feed.invalid == 2  # the v2 event and the garbage were dropped
    await admin.close()
    await cy.close()


async def test_auth_is_checked_before_the_upgrade(env: Env):
    for token, status in (("nope", 401), ("device", 403)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await env.connect(token)
        assert info.value.status == status
    ws = await env.session.ws_connect(f"{env.url}/api/v1/events",
                                      headers={"Authorization": "Bearer hd"})
    assert set((await _next(ws))["states"]) == {"hd-0", "hd-1"}
    await ws.close()


async def test_a_slow_socket_is_dropped_and_never_stalls_another(tmp_path: Path):
    env, stop = await _start(tmp_path, queue_size=4)
    try:
        def small_buffer_socket(addr_info: Any) -> socket.socket:
            family, type_, proto, _, _ = addr_info
            sock = socket.socket(family, type_, proto)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            return sock

        slow_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(socket_factory=small_buffer_socket))
        slow = await slow_session.ws_connect(f"{env.url}/api/v1/events?token=admin")
        fast = await env.connect("admin")
        await _next(fast)
        big = {"v": 1, "type": "notice", "text": "x" * 200_000}
        loop = asyncio.get_running_loop()
        latencies = []
        for i in range(60):  # ~12 MB: far more than the slow peer's buffers hold
            sent = loop.time()
            await env.redis.publish("fh:live", json.dumps(big | {"seq": i}))
            got = await _next(fast, timeout=5.0)
            latencies.append(loop.time() - sent)
            assert got["seq"] == i
        assert env.events.stats["dropped_slow"] == 1
        assert env.events.client_count == 1
        assert max(latencies) < 2.0, latencies
        print(f"fast peer: max delivery latency {max(latencies) * 1000:.0f} ms while the slow "
              "peer was dropped")
        # the slow peer finds its connection closed once it reads again
        with pytest.raises((AssertionError, asyncio.TimeoutError)):
            for _ in range(200):
                await _next(slow, timeout=2.0)
        assert slow.closed or slow.close_code in (1013, 1006, None)
        await fast.close()
        await slow_session.close()
    finally:
        await stop()


async def test_resync_after_feed_reconnect_sends_a_fresh_snapshot(env: Env):
    ws = await env.connect("cy")
    await _next(ws)
    env.events.feed._dispatch({"v": 1, "type": "resync"})  # what a reconnect triggers
    snap = await _next(ws)
    assert snap["type"] == "snapshot" and set(snap["states"]) == {"cy-0", "cy-1", "cy-2"}
    await ws.close()


async def test_shutdown_closes_sockets_with_going_away(tmp_path: Path):
    env, stop = await _start(tmp_path)
    ws = await env.connect("admin")
    await _next(ws)
    closing = asyncio.create_task(stop())
    msg = await ws.receive(timeout=5.0)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    await closing
    assert ws.close_code == 1001
    assert env.events.feed._task is None


async def test_snapshot_of_20000_sources_is_quick_and_compact(env: Env):
    registry = env.events.registry
    await registry.bulk_put(SourceConfig(id=f"cam-{i:05d}", group=f"city/d{i % 20}")
                            for i in range(20_000))
    for i in range(0, 20_000, 4):
        env.status.source_state(f"cam-{i:05d}", "online")
    loop = asyncio.get_running_loop()
    started = loop.time()
    ws = await env.connect("admin", max_msg_size=8 * 1024 * 1024)
    msg = await ws.receive(timeout=10.0)
    elapsed = loop.time() - started
    snap = json.loads(msg.data)
    print(f"snapshot of {len(snap['states'])} sources: {len(msg.data) / 1024:.0f} KiB "
          f"in {elapsed * 1000:.0f} ms")
    assert len(snap["states"]) == 20_005
    assert sum(1 for s in snap["states"].values() if s == "online") == 5001
    assert len(msg.data) < 30 * 20_005  # ~25 bytes per source
    assert elapsed < 3.0
    await ws.close()
