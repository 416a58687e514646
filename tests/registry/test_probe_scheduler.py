"""ProbeScheduler with a real registry and StatusBoard; the probe is a function-field fake
(and the real ``probe_rtsp`` against a closed port)."""

from __future__ import annotations

import asyncio
import socket
import statistics
from dataclasses import dataclass
from pathlib import Path

import pytest
from redis.asyncio import Redis

from mediaserver.config import SourceConfig
from mediaserver.registry.probe_scheduler import ProbeScheduler
from mediaserver.registry.sources import SourceRegistry
from mediaserver.registry.status import StatusBoard


@dataclass
class Result:
    state: str
    codec: str | None = None
    width: int | None = None
    height: int | None = None
    error: str = ""


class FakeProbe:
    """Records when each URL was probed; answers ``answer(url)`` after ``delay`` seconds."""

    def __init__(self, delay: float = 0.0, answer=lambda url: Result("online", "h264", 640,
                                                                     360)) -> None:
        self.delay = delay
        self.answer = answer
        self.calls: list[tuple[float, str]] = []
        self.running = 0
        self.max_running = 0

    async def __call__(self, url: str, *, timeout: float) -> Result:
        self.calls.append((asyncio.get_running_loop().time(), url))
        self.running += 1
        self.max_running = max(self.max_running, self.running)
        try:
            await asyncio.sleep(self.delay)
            return self.answer(url)
        finally:
            self.running -= 1


async def _setup(redis: Redis, n: int, **kw: object) -> tuple[SourceRegistry, StatusBoard]:
    reg = SourceRegistry(redis)
    await reg.bulk_put(SourceConfig(id=f"cam-{i:03d}", url=f"rtsp://u:p@10.0.0.{i}/s", **kw)
                       for i in range(n))
    board = StatusBoard(redis, node="n1", interval=0.05)
    await board.start()
    return reg, board


async def test_probes_are_spread_evenly_over_the_interval(redis: Redis):
    reg, board = await _setup(redis, 40)
    await reg.put(SourceConfig(id="pushed", publish=True))  # not pulled: never probed
    probe = FakeProbe()
    interval = 0.8
    sched = ProbeScheduler(reg, board, probe, interval=interval, timeout=1.0, concurrency=8)
    await sched.start()
    await asyncio.sleep(interval * 1.5)
    await sched.aclose()
    await board.aclose()

    first_cycle = [t for t, _ in probe.calls][:40]
    assert len({u for _, u in probe.calls[:40]}) == 40
    step = interval / 40
    gaps = [b - a for a, b in zip(first_cycle, first_cycle[1:], strict=False)]
    spread = first_cycle[-1] - first_cycle[0]
    print(f"probe spacing: mean {statistics.mean(gaps) * 1000:.1f} ms, "
          f"median {statistics.median(gaps) * 1000:.1f} ms, max {max(gaps) * 1000:.1f} ms "
          f"(target {step * 1000:.1f} ms); first cycle spans {spread:.3f} s")
    assert abs(statistics.mean(gaps) - step) < 0.2 * step
    assert sum(0.5 * step <= g <= 1.5 * step for g in gaps) >= 0.8 * len(gaps)
    windows = [sum(1 for t in first_cycle if s <= t < s + 0.1) for s in first_cycle]
    assert max(windows) <= 8  # 5 expected per 100 ms: never a burst
    assert sched.stats["ok"] >= 40 and sched.stats["cycles"] >= 1
    assert all("u:p@" in u for _, u in probe.calls)  # the probe gets the real URL


async def test_concurrency_cap_skips_and_counts(redis: Redis):
    reg, board = await _setup(redis, 30)
    probe = FakeProbe(delay=0.3)
    sched = ProbeScheduler(reg, board, probe, interval=0.3, timeout=1.0, concurrency=4)
    await sched.start()
    await asyncio.sleep(0.45)
    await sched.aclose()
    await board.aclose()
    assert probe.max_running <= 4
    assert sched.stats["skipped"] >= 20
    assert sched.in_flight == 0  # aclose cancelled and awaited the probes in flight


async def test_results_reach_the_board_and_only_changes_make_events(redis: Redis):
    reg, board = await _setup(redis, 10)
    active = {"cam-000"}

    def answer(url: str) -> Result:
        host = int(url.split("10.0.0.")[1].split("/")[0])
        return Result("online", "h264", 1280, 720) if host % 2 else \
            Result("offline", error="no answer within 1 s")

    probe = FakeProbe(answer=answer)
    sched = ProbeScheduler(reg, board, probe, interval=0.2, timeout=1.0, concurrency=4,
                           is_active=lambda sid: sid in active)
    await sched.start()
    await asyncio.sleep(0.3)
    await reg.put(SourceConfig(id="cam-new", url="rtsp://10.0.0.99/s"))  # picked up next cycle
    await asyncio.sleep(0.5)
    await sched.aclose()
    await board.aclose()

    assert "rtsp://10.0.0.0/s" not in {u for _, u in probe.calls}  # active: skipped
    assert sched.stats["skipped_active"] >= 2
    assert any(u == "rtsp://10.0.0.99/s" for _, u in probe.calls)
    status = await redis.hgetall("fh:status:cam-003")
    assert status["state"] == "online" and status["codec"] == "h264" and status["width"] == "1280"
    assert await redis.hget("fh:status:cam-002", "last_error") == "no answer within 1 s"
    assert await redis.hget("fh:status:cam-002", "state") == "offline"
    entries = await redis.xrange("fh:events:status")
    online = {"cam-001", "cam-003", "cam-005", "cam-007", "cam-009", "cam-new"}
    assert sorted(f["source_id"] for _, f in entries) == sorted(online)  # once each


async def test_file_sources_are_checked_for_existence(redis: Redis, tmp_path: Path):
    present = tmp_path / "clip.mp4"
    present.write_bytes(b"\0")
    reg = SourceRegistry(redis)
    await reg.bulk_put([SourceConfig(id="f1", kind="file", url=present.as_uri()),
                        SourceConfig(id="f2", kind="file", url=(tmp_path / "gone.mp4").as_uri()),
                        SourceConfig(id="h1", url="http://10.0.0.1/stream.flv")])
    board = StatusBoard(redis, node="n1", interval=0.05)
    await board.start()
    probe = FakeProbe()
    sched = ProbeScheduler(reg, board, probe, interval=0.15, timeout=1.0, concurrency=4)
    await sched.start()
    await asyncio.sleep(0.25)
    await sched.aclose()
    await board.aclose()
    assert probe.calls == []  # no RTSP source
    assert await redis.hget("fh:status:f1", "state") == "online"
    assert await redis.hgetall("fh:status:f2") | {} != {}
    assert await redis.hget("fh:status:f2", "state") == "error"
    assert await redis.exists("fh:status:h1") == 0  # left to its first viewer
    assert sched.stats["unprobed"] >= 1


async def test_real_probe_against_a_closed_port(redis: Redis):
    rtsp_probe = pytest.importorskip("mediaserver.sources.rtsp_probe")
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reg = SourceRegistry(redis)
    await reg.put(SourceConfig(id="dead", url=f"rtsp://admin:pw@127.0.0.1:{port}/x"))
    board = StatusBoard(redis, node="n1", interval=0.05)
    await board.start()
    sched = ProbeScheduler(reg, board, rtsp_probe.probe_rtsp, interval=0.5, timeout=1.0,
                           concurrency=2)
    await sched.start()
    for _ in range(40):
        await asyncio.sleep(0.05)
        if sched.stats["failed"]:
            break
    await sched.aclose()
    await board.aclose()
    assert sched.stats["failed"] == 1 and sched.stats["ok"] == 0
    status = await redis.hgetall("fh:status:dead")
    assert status["state"] == "offline"
    assert status["last_error"] and "pw" not in status["last_error"]


async def test_a_first_source_and_probe_now_do_not_wait_a_whole_interval(redis: Redis):
    reg, board = await _setup(redis, 0)
    probe = FakeProbe()
    sched = ProbeScheduler(reg, board, probe, interval=60.0, timeout=1.0, concurrency=8)
    await sched.start()
    loop = asyncio.get_running_loop()
    added = loop.time()
    await reg.put(SourceConfig(id="first", url="rtsp://127.0.0.1:9/first"))
    async with asyncio.timeout(5):  # not 60 s: an empty registry is looked at again soon
        while not probe.calls:
            await asyncio.sleep(0.05)
    assert probe.calls[0][0] - added < 3.0
    await reg.put(SourceConfig(id="second", url="rtsp://127.0.0.1:9/second"))
    sched.probe_now("second")  # what the hub does when the API creates a source
    async with asyncio.timeout(2):
        while not any(url.endswith("/second") for _, url in probe.calls):
            await asyncio.sleep(0.05)
    await sched.aclose()
    await board.aclose()
