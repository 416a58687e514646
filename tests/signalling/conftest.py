"""Fixtures for WHEP tests: a real H.264 clip, a live Stream fed in real time, a function-field
stream provider, a token checker and the endpoint served over loopback."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction

import aiohttp
import av
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from mediaserver.config.media import WebRtcConfig
from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.stream import Stream
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import AccessDenied, SourceNotFound
from mediaserver.protocols.nal import split_annexb
from signalling.whep import WhepEndpoint

WIDTH, HEIGHT, FPS, GOP = 640, 360, 25, 25
FRAME_TICKS = 90_000 // FPS
GOOD_TOKEN = "viewer-token"
OTHER_GROUP_TOKEN = "other-group-token"


@dataclass(frozen=True)
class Clip:
    """Encoded access units: (nalus, keyframe) per picture, plus SPS and PPS."""

    frames: tuple[tuple[tuple[bytes, ...], bool], ...]
    sps: bytes
    pps: bytes


def encode_clip(width: int, height: int, count: int, gop: int, fps: int = FPS, *,
                preset: str = "veryfast") -> Clip:
    """``count`` pictures of a moving test pattern as H.264 (libx264, no B-frames, a keyframe
    every ``gop`` pictures)."""
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.time_base = Fraction(1, fps)
    ctx.framerate = Fraction(fps, 1)
    ctx.gop_size = gop
    ctx.max_b_frames = 0
    ctx.options = {"preset": preset, "tune": "zerolatency", "bf": "0",
                   "keyint_min": str(gop), "sc_threshold": "0", "threads": "1"}
    yy, xx = np.mgrid[0:height, 0:width]
    packets = []
    for n in range(count):
        img = np.stack([(xx + 8 * n) % 256, (yy + 4 * n) % 256,
                        np.full_like(xx, (16 * n) % 256)], axis=-1).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        frame.pts = n
        packets += ctx.encode(frame)
    packets += ctx.encode(None)
    frames, sps, pps = [], b"", b""
    for pkt in packets:
        nalus = split_annexb(bytes(pkt))
        for nalu in nalus:
            kind = nalu[0] & 0x1F
            if kind == 7:
                sps = nalu
            elif kind == 8:
                pps = nalu
        frames.append((tuple(nalus), bool(pkt.is_keyframe)))
    return Clip(tuple(frames), sps, pps)


@pytest.fixture(scope="session")
def h264_clip() -> Clip:
    """2 s of 640x360 H.264 at 25 fps (libx264, no B-frames, keyframe every 25 frames)."""
    clip = encode_clip(WIDTH, HEIGHT, 2 * FPS, GOP)
    frames = clip.frames
    assert len(frames) == 2 * FPS and frames[0][1] and frames[GOP][1] and clip.sps and clip.pps
    return clip


async def replay(stream: Stream, clip: Clip, codec: str = "h264") -> None:
    """Loop the clip into ``stream`` in real time with increasing pts (a live camera)."""
    stream.begin_session()
    stream.set_track(VideoTrack(codec, WIDTH, HEIGHT, float(FPS), (clip.sps, clip.pps)))
    start = time.monotonic()
    n = 0
    try:
        while True:
            nalus, keyframe = clip.frames[n % len(clip.frames)]
            stream.publish(AccessUnit(nalus, n * FRAME_TICKS, keyframe, codec))
            n += 1
            await asyncio.sleep(max(0.0, start + n / FPS - time.monotonic()))
    finally:
        stream.end_session()


@dataclass
class FakeStreams:
    """A StreamProvider made of function fields over a dict of Streams (MediaMTX style)."""

    streams: dict[str, Stream]
    subscribe: Callable[[str, str], Awaitable[Subscriber]] = field(init=False)
    unsubscribe: Callable[[Subscriber], None] = field(init=False)
    wait_ready: Callable[[str, float], Awaitable[bool]] = field(init=False)
    stream: Callable[[str], Stream | None] = field(init=False)

    def __post_init__(self) -> None:
        async def subscribe(source_id: str, name: str) -> Subscriber:
            if source_id not in self.streams:
                raise SourceNotFound(source_id)
            return self.streams[source_id].subscribe(name)

        def unsubscribe(sub: Subscriber) -> None:
            self.streams[sub.stream_id].unsubscribe(sub)

        async def wait_ready(source_id: str, timeout: float) -> bool:
            return await self.streams[source_id].wait_keyframe(timeout)

        self.subscribe = subscribe
        self.unsubscribe = unsubscribe
        self.wait_ready = wait_ready
        self.stream = self.streams.get


async def check_token(request: web.Request, source_id: str, action: str) -> object:
    """Token checker: no token 401, a token of another group 403, unknown source 404."""
    auth = request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        raise AccessDenied("bearer token required", 401)
    token = auth.removeprefix("Bearer ")
    if token == OTHER_GROUP_TOKEN:
        raise AccessDenied("source not in your groups", 403)
    if token != GOOD_TOKEN:
        raise AccessDenied("invalid token", 401)
    if source_id.startswith("unknown"):
        raise SourceNotFound(source_id)
    return {"role": "viewer", "action": action}


@dataclass
class Hub:
    """A served endpoint plus its streams; constants of the clip and tokens for the tests."""

    endpoint: WhepEndpoint
    streams: dict[str, Stream]
    base_url: str
    http: aiohttp.ClientSession
    server: TestServer
    tasks: list[asyncio.Task[None]]
    token: str = GOOD_TOKEN
    other_group_token: str = OTHER_GROUP_TOKEN
    width: int = WIDTH
    height: int = HEIGHT
    fps: int = FPS
    stopped: bool = False

    def url(self, path: str) -> str:
        return self.base_url + path

    async def stop(self) -> None:
        """Close the endpoint, the HTTP side and the camera (idempotent)."""
        if self.stopped:
            return
        self.stopped = True
        await self.endpoint.aclose()
        await self.http.close()
        await self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def start_hub(clip: Clip, **endpoint_kwargs: object) -> Hub:
    streams = {"cam1": Stream("cam1"), "dead": Stream("dead"), "hevc": Stream("hevc")}
    tasks = [asyncio.create_task(replay(streams["cam1"], clip), name="replay:cam1")]
    # an H.265 source: one keyframe is enough to look ready
    streams["hevc"].begin_session()
    streams["hevc"].set_track(VideoTrack("h265", WIDTH, HEIGHT, float(FPS)))
    streams["hevc"].publish(AccessUnit([b"\x26\x01\xaf"], 0, True, "h265"))
    webrtc = endpoint_kwargs.pop("webrtc", WebRtcConfig(host_addresses=("127.0.0.1",)))
    kwargs = {"ready_timeout": 1.0, **endpoint_kwargs}
    endpoint = WhepEndpoint(FakeStreams(streams), check_token, webrtc, **kwargs)
    app = web.Application()
    endpoint.add_routes(app)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    http = aiohttp.ClientSession()
    hub = Hub(endpoint, streams, f"http://127.0.0.1:{server.port}", http, server, tasks)
    await streams["cam1"].wait_keyframe(5.0)
    return hub


HubFactory = Callable[..., Awaitable[Hub]]


@pytest.fixture
async def make_hub(h264_clip: Clip) -> AsyncIterator[HubFactory]:
    """``await make_hub(**WhepEndpoint kwargs, webrtc=...)``; every hub is stopped at teardown."""
    hubs: list[Hub] = []

    async def factory(**kwargs: object) -> Hub:
        hub = await start_hub(h264_clip, **kwargs)
        hubs.append(hub)
        return hub

    try:
        yield factory
    finally:
        for hub in hubs:
            await hub.stop()


@pytest.fixture
async def hub(make_hub: HubFactory) -> Hub:
    return await make_hub()
