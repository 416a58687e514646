"""Pushed sources end to end: ffmpeg publishing over RTMP and RTSP into a whole hub (embedded
Valkey, JWT access, registry, status board), watched by aiortc WHEP viewers.

Until the composition root wires the push ingest itself (``hub.push``, ``hub.rtmp``), the
``pushing`` fixture wires it onto the started hub the same way (see the module docstring of
:mod:`mediaserver.core.push` and the report of issue 5 part 1).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from mediaserver.config.push import RtmpConfig
from mediaserver.core.push import PushPublishers
from mediaserver.hub.app import Hub
from mediaserver.protocols.h264 import H264Packetizer
from mediaserver.protocols.rtsp.message import Request as RtspRequest
from mediaserver.servers.rtmp.server import RtmpServer
from signalling.clients.whep import WhepClient
from tests.e2e.conftest import token
from tests.e2e.test_media_core import _decode_errors, _packets, _record_reserve, scrape
from tests.servers.test_rtmp import push_clip, run_ffmpeg
from tests.servers.test_rtsp_push import RawRtsp, fixture_media

__all__ = ["push_clip"]

pytestmark = pytest.mark.timeout(90)

SOURCES = [
    {"id": "bodycam1", "name": "Team 1 body-cam", "group": "fire/team1", "kind": "bodycam",
     "publish": True},
    {"id": "drone2", "name": "Drone 2", "group": "fire/air", "kind": "drone", "publish": True},
]


def token_authorizer(hub: Hub):
    """``authorize(token, source_id, action)`` for the RTMP server, from the hub's Access."""
    direct = getattr(hub.access, "authorize_token", None)
    if direct is not None:
        return direct

    async def authorize(tok: str | None, source_id: str, action: str) -> bool:
        query = f"?token={quote(tok, safe='')}" if tok else ""
        request = RtspRequest("ANNOUNCE", f"rtsp://hub/{source_id}{query}")
        return await hub.access.authorize_rtsp(request, source_id, action)

    return authorize


Pushing = Callable[..., Awaitable[tuple[Hub, PushPublishers, RtmpServer]]]


@pytest.fixture
async def pushing(make_hub) -> AsyncIterator[Pushing]:
    """``hub, push, rtmp = await pushing(grace_period=...)``: a hub with push ingest."""
    extra: list[Callable[[], Awaitable[object]]] = []

    async def factory(grace_period: float = 1.0, silence_timeout: float = 5.0
                      ) -> tuple[Hub, PushPublishers, RtmpServer]:
        hub = await make_hub(sources=SOURCES)
        if getattr(hub, "push", None) is not None and getattr(hub, "rtmp", None) is not None:
            hub.push.grace_period = grace_period
            hub.push.silence_timeout = silence_timeout
            return hub, hub.push, hub.rtmp
        push = PushPublishers(hub.manager, hub.status, hub.registry,
                              grace_period=grace_period, silence_timeout=silence_timeout)
        await push.start()
        hub.rtsp.publishers = push
        rtmp = RtmpServer(push, token_authorizer(hub), RtmpConfig(host="127.0.0.1", port=0))
        await rtmp.start()
        extra.extend([push.aclose, rtmp.aclose])
        return hub, push, rtmp

    yield factory
    for closer in reversed(extra):
        await closer()


def device_token(hub: Hub, source_id: str) -> str:
    return hub.access.issue("device", (), ttl=600, subject=source_id, source=source_id)


async def state_of(hub: Hub, source_id: str) -> str | None:
    return (await hub.redis.client.hgetall(f"fh:status:{source_id}")).get("state")


async def wait_state(hub: Hub, source_id: str, states: tuple[str, ...], timeout: float) -> str:
    async with asyncio.timeout(timeout):
        while (state := await state_of(hub, source_id)) not in states:
            await asyncio.sleep(0.05)
    return state


def rtmp_url(rtmp: RtmpServer, source_id: str, tok: str) -> str:
    return f"{rtmp.url(source_id)}?token={tok}"


def rtsp_url(hub: Hub, source_id: str, tok: str) -> str:
    return f"rtsp://127.0.0.1:{hub.rtsp.port}/{source_id}?token={tok}"


def publish_args(clip: Path, fmt: str, url: str, seconds: float) -> list[str]:
    return ["-re", "-i", str(clip), "-t", str(seconds), "-c", "copy", "-f", fmt, url]


@pytest.mark.parametrize("protocol", ["rtmp", "rtsp"])
async def test_device_publishes_and_the_wall_watches(pushing, push_clip, protocol):
    hub, push, rtmp = await pushing(grace_period=1.0)
    device = device_token(hub, "bodycam1")
    url = rtmp_url(rtmp, "bodycam1", device) if protocol == "rtmp" \
        else rtsp_url(hub, "bodycam1", device)
    assert await state_of(hub, "bodycam1") in (None, "offline")
    started = time.monotonic()
    publisher = asyncio.create_task(run_ffmpeg(*publish_args(
        push_clip, "flv" if protocol == "rtmp" else "rtsp", url, 4)))
    await wait_state(hub, "bodycam1", ("online", "streaming"), 10)
    online_after = time.monotonic() - started
    await wait_state(hub, "bodycam1", ("streaming",), 10)
    streaming_after = time.monotonic() - started
    print(f"{protocol}: online {online_after * 1000:.0f} ms, streaming "
          f"{streaming_after * 1000:.0f} ms after ffmpeg started")
    status = await hub.redis.client.hgetall("fh:status:bodycam1")
    assert (status["codec"], status["width"], status["height"]) == ("h264", "320", "240")
    async with WhepClient(f"http://127.0.0.1:{hub.http_port}/whep/bodycam1",
                          token=token(hub, groups=("fire",)),
                          host_addresses=("127.0.0.1",)) as viewer:
        await viewer.wait_frames(25, timeout=15)
        assert (viewer.width, viewer.height) == (320, 240)
        code, err = await publisher
        assert code == 0, err
        # the publisher stopped: offline at once, the stream lingers for the grace period
        await wait_state(hub, "bodycam1", ("offline",), 5)
        assert push.session("bodycam1") is None
        async with asyncio.timeout(5):
            await viewer.ended.wait()  # grace over: the stream and its viewers end
    assert hub.manager.stream("bodycam1") is None
    assert push.stats.expired == 1


@pytest.mark.parametrize("protocol", ["rtmp", "rtsp"])
async def test_a_publisher_with_b_frames_is_recorded_from_the_reserve(pushing, protocol,
                                                                      tmp_path):
    """ffmpeg encodes with two B-frames (decode order differs from presentation order) and
    publishes; a reader records the RTSP re-serve with -c copy: the file has strictly
    increasing DTS, keeps the B-frames' presentation order and decodes without errors."""
    hub, _, rtmp = await pushing()
    device = device_token(hub, "bodycam1")
    url = rtmp_url(rtmp, "bodycam1", device) if protocol == "rtmp" \
        else rtsp_url(hub, "bodycam1", device)
    publisher = asyncio.create_task(run_ffmpeg(
        "-re", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-t", "9",
        "-c:v", "libx264", "-bf", "2", "-g", "50", "-preset", "superfast",
        "-pix_fmt", "yuv420p", "-f", "flv" if protocol == "rtmp" else "rtsp", url))
    await wait_state(hub, "bodycam1", ("streaming",), 10)
    out = tmp_path / "reserve.mp4"
    log = await _record_reserve(rtsp_url(hub, "bodycam1", token(hub, groups=("fire",))), out, 5)
    code, err = await publisher
    assert code == 0, err
    assert "non monotonically increasing dts" not in log, log
    packets = await _packets(out)
    assert sum(key for _, _, key in packets) >= 2, len(packets)
    dts = [d for d, _, _ in packets]
    assert all(b > a for a, b in zip(dts, dts[1:], strict=False)), dts[:20]
    pts = [p for _, p, _ in packets]
    assert any(b < a for a, b in zip(pts, pts[1:], strict=False)), pts[:20]
    assert len(set(pts)) == len(pts), pts[:20]
    assert await _decode_errors(out) == ""


async def test_publishers_refused_before_any_media(pushing, push_clip):
    hub, push, rtmp = await pushing()
    device = device_token(hub, "bodycam1")
    viewer = token(hub, "viewer", ("*",))
    # a device token for another source: refused on both protocols, nothing started
    for args in (publish_args(push_clip, "flv", rtmp_url(rtmp, "drone2", device), 1),
                 publish_args(push_clip, "rtsp", rtsp_url(hub, "drone2", device), 1),
                 publish_args(push_clip, "flv", rtmp_url(rtmp, "drone2", viewer), 1),
                 publish_args(push_clip, "rtsp", rtsp_url(hub, "drone2", "forged.jwt.x"), 1)):
        code, err = await run_ffmpeg(*args)
        assert code != 0
    rtsp_errors = hub.rtsp.stats.errors
    assert rtsp_errors[404] == 1 and rtsp_errors[401] >= 1
    assert rtmp.stats.refused == 2 and push.stats.claims == 0
    assert hub.manager.stream("drone2") is None
    assert await state_of(hub, "drone2") in (None, "offline")
    # one publisher at a time: RTMP holds the source, an RTSP push to it gets 409
    first = asyncio.create_task(run_ffmpeg(*publish_args(
        push_clip, "flv", rtmp_url(rtmp, "bodycam1", device), 4)))
    await wait_state(hub, "bodycam1", ("streaming",), 10)
    code, err = await run_ffmpeg(*publish_args(
        push_clip, "rtsp", rtsp_url(hub, "bodycam1", device), 1))
    assert code != 0 and "409" in err
    assert push.stats.busy == 1
    code, err = await first
    assert code == 0, err


async def test_reconnect_within_grace_keeps_the_viewer(pushing, push_clip):
    hub, push, rtmp = await pushing(grace_period=10.0)
    device = device_token(hub, "bodycam1")
    first = asyncio.create_task(run_ffmpeg(*publish_args(
        push_clip, "flv", rtmp_url(rtmp, "bodycam1", device), 2.5)))
    await wait_state(hub, "bodycam1", ("streaming",), 10)
    async with WhepClient(f"http://127.0.0.1:{hub.http_port}/whep/bodycam1",
                          token=token(hub, groups=("fire/team1",)),
                          host_addresses=("127.0.0.1",)) as viewer:
        await viewer.wait_frames(10, timeout=15)
        code, err = await first
        assert code == 0, err
        await wait_state(hub, "bodycam1", ("offline",), 5)
        stalled = viewer.frames
        await asyncio.sleep(1.0)  # the link is down for a second
        assert viewer.frames <= stalled + 1 and not viewer.ended.is_set()
        # the device comes back, this time over RTSP: the same viewer resumes
        second = asyncio.create_task(run_ffmpeg(*publish_args(
            push_clip, "rtsp", rtsp_url(hub, "bodycam1", device), 3)))
        resumed_at = time.monotonic()
        await viewer.wait_frames(stalled + 25, timeout=15)
        print(f"viewer resumed {time.monotonic() - resumed_at:.2f} s after the reconnect")
        assert not viewer.ended.is_set()
        code, err = await second
        assert code == 0, err
    assert push.stats.resumed == 1 and push.stats.expired == 0
    assert hub.manager.stream("bodycam1").stats.sessions == 2


async def test_a_stream_whose_sps_does_not_parse_says_so(pushing, caplog):
    """An RTSP publisher announcing (and sending) an SPS that cannot be parsed: the status
    names the problem in last_error and the metrics count it (it used to be 'h264 NonexNone'
    at INFO, and nothing else)."""
    hub, _push, _rtmp = await pushing()
    sdp, frames = fixture_media()
    broken = b"\x67\x42"  # an SPS NAL unit cut after its profile byte
    good_sps = next(n for nalus, _ in frames for n in nalus if n[0] & 0x1F == 7)
    sdp = sdp.replace(base64.b64encode(good_sps).decode(), base64.b64encode(broken).decode())
    frames = [(tuple(broken if n[0] & 0x1F == 7 else n for n in nalus), ts)
              for nalus, ts in frames]
    url = rtsp_url(hub, "bodycam1", device_token(hub, "bodycam1"))
    c = await RawRtsp.connect(hub.rtsp.port)
    try:
        assert (await c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"}, sdp)
                ).status == 200
        setup = await c.request("SETUP", url.replace("?", "/streamid=0?"), {
            "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"})
        assert setup.status == 200, setup
        session = {"Session": setup.headers["Session"].split(";")[0]}
        assert (await c.request("RECORD", url, session)).status == 200
        packetizer = H264Packetizer(96, 4321)
        for nalus, timestamp in frames[:30]:
            for packet in packetizer.packetize(nalus, timestamp):
                c.frame(0, packet.serialize())
        await wait_state(hub, "bodycam1", ("streaming",), 10)
        status = await hub.redis.client.hgetall("fh:status:bodycam1")
        assert "SPS" in status["last_error"], status
        metrics = await scrape(hub)
        assert metrics['fusionhub_stream_bad_parameter_sets_total{source="bodycam1"}'] >= 1
        assert any(r.levelno == logging.WARNING and "SPS" in r.getMessage()
                   for r in caplog.records)
    finally:
        c.close()
