"""Prometheus exposition parsed back line by line from real Streams, and /healthz."""

from __future__ import annotations

import asyncio
import re
import socket

import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from mediaserver.api.health import HealthApi
from mediaserver.api.metrics import MetricsApi, stream_collector
from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.manager import ManagerSettings, StreamManager
from mediaserver.core.stream import Stream
from mediaserver.metrics import CONTENT_TYPE, Metrics, Sample

SPS = bytes.fromhex("6742c01e95a0a0fd8e4c")
PPS = bytes.fromhex("68ce3c80")
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")


def parse_labels(text: str) -> dict[str, str]:
    """Inverse of the exposition's label syntax, escapes included."""
    labels: dict[str, str] = {}
    i = 0
    while i < len(text):
        eq = text.index("=", i)
        name = text[i:eq]
        assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name), name
        assert text[eq + 1] == '"'
        j, value = eq + 2, []
        while text[j] != '"':
            if text[j] == "\\":
                value.append({"\\": "\\", '"': '"', "n": "\n"}[text[j + 1]])
                j += 2
            else:
                value.append(text[j])
                j += 1
        labels[name] = "".join(value)
        i = j + 1
        if i < len(text):
            assert text[i] == ",", text
            i += 1
    return labels


def parse_exposition(text: str) -> dict[str, dict]:
    """name → {"type", "help", "samples": {frozenset(labels): value}}; asserts the format."""
    assert text.endswith("\n")
    families: dict[str, dict] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            name, _, help_ = line[7:].partition(" ")
            assert name not in families, f"HELP after samples of {name}"
            families[name] = {"help": help_.replace("\\n", "\n").replace("\\\\", "\\"),
                              "type": None, "samples": {}}
        elif line.startswith("# TYPE "):
            name, kind = line[7:].split(" ")
            assert kind in ("counter", "gauge", "untyped")
            family = families.setdefault(name, {"help": "", "type": None, "samples": {}})
            assert family["type"] is None and not family["samples"], f"TYPE twice: {name}"
            family["type"] = kind
        else:
            match = _SAMPLE.match(line)
            assert match, f"bad sample line {line!r}"
            name, labels, value = match.groups()
            family = families[name]
            assert family["type"] is not None, f"sample before TYPE: {line}"
            key = frozenset(parse_labels(labels or "").items())
            assert key not in family["samples"], f"duplicate sample {line}"
            family["samples"][key] = float(value)
    return families


def value(families: dict, name: str, **labels: str) -> float:
    return families[name]["samples"][frozenset(labels.items())]


def au(pts: int, keyframe: bool, size: int = 1000) -> AccessUnit:
    nalus = [SPS, PPS, b"\x65" + bytes(size)] if keyframe else [b"\x41" + bytes(size)]
    return AccessUnit(nalus, pts, keyframe)


class NullStatus:
    def source_state(self, source_id: str, state: str, **fields: object) -> None:
        pass


async def pushed(source_id: str) -> None:  # every source is pushed: nothing to pull
    return None


@pytest.fixture
async def manager():
    manager = StreamManager(pushed, NullStatus(), ManagerSettings(close_after=0.05))
    yield manager
    await manager.aclose()


async def test_stream_metrics_from_real_streams(manager: StreamManager) -> None:
    metrics = Metrics()
    metrics.add_collector(stream_collector(manager))
    stream = await manager.ensure_started("cam-1", always_on=True)
    fast = await manager.subscribe("cam-1", "viewer-fast")
    slow = await manager.subscribe("cam-1", "viewer-slow", maxsize=3)
    stream.begin_session()
    stream.set_track(VideoTrack("h264", 640, 360, 25.0, (SPS, PPS)))
    stream.publish(au(0, False))  # before the first keyframe: dropped_in
    published = [au(i * 3600, i % 10 == 0) for i in range(20)]
    for i, unit in enumerate(published):
        stream.publish(unit)
        if i < 15:
            await fast.recv()
    families = parse_exposition(metrics.render())

    assert families["fusionhub_streams"]["type"] == "gauge"
    assert value(families, "fusionhub_streams") == 1
    assert value(families, "fusionhub_stream_viewers", source="cam-1") == 2
    assert value(families, "fusionhub_stream_access_units_in_total", source="cam-1") == 20
    assert families["fusionhub_stream_bytes_in_total"]["type"] == "counter"
    assert value(families, "fusionhub_stream_bytes_in_total", source="cam-1") == \
        stream.stats.bytes_in == sum(u.size for u in published)
    assert slow.dropped > 0
    assert value(families, "fusionhub_subscriber_drops_total", source="cam-1") == \
        slow.dropped + fast.dropped + 1
    assert value(families, "fusionhub_bytes_out_total", source="cam-1") == \
        fast.bytes_delivered > 0
    for name in ("fusionhub_stream_fps", "fusionhub_stream_bitrate_bps"):
        assert families[name]["type"] == "gauge"
        assert value(families, name, source="cam-1") >= 0

    # a subscriber that leaves does not make the counters go backwards
    delivered, drops = fast.bytes_delivered, slow.dropped
    manager.unsubscribe(fast)
    manager.unsubscribe(slow)
    families = parse_exposition(metrics.render())
    assert value(families, "fusionhub_bytes_out_total", source="cam-1") == delivered
    assert value(families, "fusionhub_subscriber_drops_total", source="cam-1") >= drops + 1
    assert value(families, "fusionhub_stream_viewers", source="cam-1") == 0

    # a stopped stream leaves no per-source series behind
    await manager.stop("cam-1")
    families = parse_exposition(metrics.render())
    assert value(families, "fusionhub_streams") == 0
    assert "fusionhub_stream_viewers" not in families


async def test_label_and_help_escaping() -> None:
    weird = 'cam "7"\\east\nline2'
    stream = Stream(weird)
    stream.subscribe("v")

    class OneStream:
        def streams(self) -> list[Stream]:
            return [stream]

    metrics = Metrics()
    metrics.add_collector(stream_collector(OneStream()))
    counter = metrics.counter("fusionhub_test_events_total", 'Help with \\ and "quotes"\nnext',
                              labels=("source", "kind"))
    counter.labels(weird, "a").inc(2)
    counter.labels(source="plain", kind="b").inc()
    metrics.gauge("fusionhub_test_level", "A level").set(1.5)
    text = metrics.render()
    assert "# TYPE fusionhub_test_events_total counter" in text
    assert 'source="cam \\"7\\"\\\\east\\nline2"' in text
    families = parse_exposition(text)
    assert families["fusionhub_test_events_total"]["help"] == 'Help with \\ and "quotes"\nnext'
    assert value(families, "fusionhub_test_events_total", source=weird, kind="a") == 2
    assert value(families, "fusionhub_test_events_total", source="plain", kind="b") == 1
    assert value(families, "fusionhub_test_level") == 1.5
    assert value(families, "fusionhub_stream_viewers", source=weird) == 1


def test_registry_rules() -> None:
    metrics = Metrics()
    first = metrics.counter("fusionhub_x_total", "x", labels=("source",))
    assert metrics.counter("fusionhub_x_total", "x", labels=("source",)) is first
    with pytest.raises(ValueError):
        metrics.gauge("fusionhub_x_total", "x", labels=("source",))
    with pytest.raises(ValueError):
        metrics.counter("bad-name", "x")
    with pytest.raises(ValueError):
        metrics.counter("fusionhub_y_total", "y", labels=("bad-label",))
    with pytest.raises(ValueError):
        first.labels("a", "b")

    def broken() -> list[Sample]:
        raise RuntimeError("collector bug")

    metrics.add_collector(broken)
    first.labels("cam").inc()
    families = parse_exposition(metrics.render())  # one bad collector hides nothing else
    assert value(families, "fusionhub_x_total", source="cam") == 1
    assert value(families, "fusionhub_metrics_collector_errors_total") == 1


async def test_metrics_endpoint() -> None:
    metrics = Metrics()
    metrics.counter("fusionhub_requests_total", "Requests").inc(3)
    app = web.Application()
    MetricsApi(metrics).add_routes(app)
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/metrics")
        assert resp.status == 200
        assert resp.headers["Content-Type"] == CONTENT_TYPE
        assert "version=0.0.4" in resp.headers["Content-Type"]
        families = parse_exposition(await resp.text())
    assert value(families, "fusionhub_requests_total") == 3


# -- /healthz --------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_healthz_ok_and_failing() -> None:
    async def ok() -> bool:
        return True

    async def slow() -> None:
        await asyncio.sleep(5)

    dead_redis = aioredis.Redis(host="127.0.0.1", port=closed_port(), password="pw-not-shown",
                                socket_connect_timeout=0.5, retry=Retry(NoBackoff(), 0))
    healthy = HealthApi({"loop": ok})
    failing = HealthApi({"loop": ok, "redis": dead_redis.ping, "detector": slow}, timeout=0.3)
    app = web.Application()
    healthy.add_routes(app)
    sub = web.Application()
    failing.add_routes(sub)
    app.add_subapp("/failing", sub)
    try:
        async with TestClient(TestServer(app)) as client:
            resp = await client.get("/healthz")
            assert resp.status == 200
            assert await resp.json() == {"status": "ok", "checks": {"loop": "ok"}}
            started = asyncio.get_running_loop().time()
            resp = await client.get("/failing/healthz")
            elapsed = asyncio.get_running_loop().time() - started
            body = await resp.json()
    finally:
        await dead_redis.aclose()
    assert resp.status == 503
    assert body["status"] == "fail"
    assert body["checks"]["loop"] == "ok"
    assert body["checks"]["redis"].startswith("fail: ConnectionError")
    assert body["checks"]["detector"] == "fail: timeout after 0.3 s"
    assert "pw-not-shown" not in str(body)
    assert elapsed < 2.0  # checks run concurrently, each bounded


async def test_health_check_returning_false_fails() -> None:
    async def no() -> bool:
        return False

    assert await HealthApi({"no": no}).run_checks() == {"no": "fail: check returned false"}
