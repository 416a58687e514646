"""StatusBoard against a real Valkey: hash, stream (one entry per change), coalesced fh:live."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from redis.asyncio import Redis

from mediaserver.core.interfaces import StatusSink
from mediaserver.registry.status import StatusBoard


async def _collect_live(redis: Redis, channel: str, seconds: float) -> list[dict[str, Any]]:
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(channel)
    out: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    try:
        while (left := end - loop.time()) > 0:
            msg = await pubsub.get_message(timeout=left)
            if msg is not None:
                out.append(json.loads(msg["data"]))
    finally:
        await pubsub.aclose()
    return out


async def test_state_change_lands_in_hash_stream_and_live(redis: Redis):
    board = StatusBoard(redis, node="hub-a", interval=0.05)
    sink: StatusSink = board  # the protocol the StreamManager calls
    await board.start()
    live = asyncio.create_task(_collect_live(redis, "fh:live", 1.0))
    await asyncio.sleep(0.1)  # subscribed
    sink.source_state("cam-1", "online")
    await asyncio.sleep(0.15)
    sink.source_state("cam-1", "streaming", codec="h264", width=1920, height=1080,
                      last_error="")
    await asyncio.sleep(0.15)
    sink.source_state("cam-1", "streaming", codec="h264", width=1920, height=1080)  # repeat
    sink.source_state("cam-1", "streaming")  # repeat without fields
    await asyncio.sleep(0.15)
    sink.source_state("cam-1", "offline", last_error="rtsp://admin:pw@10.0.0.1/x refused")
    messages = await live
    await board.aclose()

    status = await redis.hgetall("fh:status:cam-1")
    assert status["state"] == "offline" and status["node"] == "hub-a"
    assert status["codec"] == "h264" and status["width"] == "1920"
    assert status["last_error"] == "rtsp://***@10.0.0.1/x refused"
    assert float(status["since"]) > 1.7e9
    typed = await board.get("cam-1")
    assert typed["width"] == 1920 and typed["state"] == "offline"
    assert await board.get("never-seen") == {"state": "offline"}

    entries = await redis.xrange("fh:events:status")
    events = [json.loads(fields["data"]) for _, fields in entries]
    assert [(e["prev"], e["state"]) for e in events] == [
        ("offline", "online"), ("online", "streaming"), ("streaming", "offline")]
    assert all(e["v"] == 1 and e["type"] == "status" and e["source_id"] == "cam-1"
               and e["node"] == "hub-a" for e in events)
    assert entries[0][1] | {"data": ""} == {"v": "1", "type": "status", "source_id": "cam-1",
                                            "state": "online", "data": ""}
    assert events[1]["codec"] == "h264" and events[1]["width"] == 1920

    changes = [c for m in messages for c in m["changes"]]
    assert all(m["v"] == 1 and m["type"] == "status" for m in messages)
    assert [c["state"] for c in changes] == ["online", "streaming", "offline"]
    assert await redis.smembers("fh:idx:state:streaming") == set()
    assert board.snapshot() == {"cam-1": "offline"}


async def test_live_messages_are_coalesced(redis: Redis):
    board = StatusBoard(redis, node="hub-a", interval=0.25)
    await board.start()
    live = asyncio.create_task(_collect_live(redis, "fh:live", 1.2))
    await asyncio.sleep(0.1)
    for round_ in range(20):  # 20 rounds of 50 changes over ~0.8 s
        for i in range(50):
            board.source_state(f"cam-{i}", "streaming" if round_ % 2 == 0 else "online")
        await asyncio.sleep(0.04)
    messages = await live
    await board.aclose()
    assert 2 <= len(messages) <= 6, len(messages)  # ≤ one per 250 ms, not 1,000
    for msg in messages:  # one entry per source per message: the latest state
        ids = [c["source_id"] for c in msg["changes"]]
        assert len(ids) == len(set(ids))
    assert await redis.xlen("fh:events:status") == 1000  # but every change is in the stream
    assert board.stats["changes"] == 1000


async def test_metrics_are_written_without_events_and_flushed_on_close(redis: Redis):
    board = StatusBoard(redis, node="hub-a", interval=10.0)  # only the final flush writes
    await board.start()
    board.source_state("cam-1", "streaming")
    board.update_metrics("cam-1", fps=25.0, bitrate=2_500_000, viewers=3)
    board.update_metrics("cam-2", fps=12.5, bitrate=100, viewers=0)
    await board.aclose()
    assert await redis.hgetall("fh:status:cam-1") == {
        "state": "streaming", "since": await redis.hget("fh:status:cam-1", "since"),
        "node": "hub-a", "fps": "25", "bitrate": "2500000", "viewers": "3"}
    assert await redis.hget("fh:status:cam-2", "fps") == "12.5"
    assert await redis.xlen("fh:events:status") == 1


async def test_restart_resets_what_this_node_left_behind(redis: Redis):
    first = StatusBoard(redis, node="hub-a", interval=0.05)
    await first.start()
    first.source_state("cam-1", "streaming")
    await first.aclose()
    other = StatusBoard(redis, node="hub-b", interval=0.05)
    await other.start()
    other.source_state("cam-2", "online")
    await other.aclose()

    again = StatusBoard(redis, node="hub-a", interval=0.05)
    await again.start()
    await again.aclose()
    assert await redis.hget("fh:status:cam-1", "state") == "offline"
    assert await redis.hget("fh:status:cam-2", "state") == "online"  # another node's source
    assert again.snapshot() == {"cam-1": "offline", "cam-2": "online"}


async def test_unknown_state_is_ignored_and_counted(redis: Redis):
    board = StatusBoard(redis, node="hub-a")
    board.source_state("cam-1", "purple")
    assert board.stats["invalid"] == 1 and board.snapshot() == {}


async def test_observe_applies_other_nodes_changes(redis: Redis):
    board = StatusBoard(redis, node="hub-a")
    board.observe({"v": 1, "type": "status", "changes": [
        {"source_id": "cam-9", "state": "streaming", "node": "hub-b"},
        {"source_id": "cam-8", "state": "streaming", "node": "hub-a"},  # our own echo
        {"source_id": "cam-7", "state": "bogus", "node": "hub-b"}]})
    assert board.snapshot() == {"cam-9": "streaming"}
