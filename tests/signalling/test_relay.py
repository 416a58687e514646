"""The fast relay against real aiortc viewers over loopback: packetized once per source,
GOP-cache start, keyframes on request (PLI), losses repaired (NACK/RTX), no leaks."""

from __future__ import annotations

import asyncio
import gc
import os
import time

import aiohttp
import pylibsrtp
import pytest

from loadtests.light_viewer import LightViewer
from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.stream import Stream
from signalling.clients.whep import WhepClient
from tests.signalling.conftest import GOOD_TOKEN, Clip, encode_clip
from tests.support.lossy_udp import LossyUdpRelay

LOOPBACK = ("127.0.0.1",)
LONG_FPS, LONG_GOP = 25, 200  # an 8 s GOP: a keyframe seen early came from a request


@pytest.fixture(scope="module")
def long_gop_clip() -> Clip:
    """8 s of 320x180 H.264 with one keyframe, at the start."""
    clip = encode_clip(320, 180, LONG_GOP, LONG_GOP, LONG_FPS, preset="ultrafast")
    assert clip.frames[0][1] and sum(k for _, k in clip.frames) == 1
    return clip


async def replay_once_then_hold(stream: Stream, clip: Clip, keyframe_on_request) -> None:
    """A live camera with a long GOP: plays the clip, and a keyframe request makes the next
    picture the clip's keyframe (what a real encoder does on a PLI)."""
    stream.begin_session()
    stream.set_track(VideoTrack("h264", 320, 180, float(LONG_FPS), (clip.sps, clip.pps)))
    n, index, start = 0, 0, time.monotonic()
    try:
        while True:
            if keyframe_on_request["pending"]:
                keyframe_on_request["pending"] = False
                index = 0
            nalus, keyframe = clip.frames[index % len(clip.frames)]
            stream.publish(AccessUnit(nalus, n * 90_000 // LONG_FPS, keyframe))
            n += 1
            index += 1
            await asyncio.sleep(max(0.0, start + n / LONG_FPS - time.monotonic()))
    finally:
        stream.end_session()


@pytest.fixture
async def long_gop(hub, long_gop_clip):
    """A second source ``long`` on the hub whose encoder honours keyframe requests."""
    stream = Stream("long")
    hub.streams["long"] = stream
    state = {"pending": False, "requests": 0}

    def requester() -> bool:
        state["requests"] += 1
        state["pending"] = True
        return True

    task = asyncio.create_task(replay_once_then_hold(stream, long_gop_clip, state))
    await stream.wait_keyframe(5.0)
    stream.keyframe_requests.set_requester(requester)
    try:
        yield stream, state
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def whep(hub, source: str = "cam1", **kwargs) -> WhepClient:
    return WhepClient(hub.url(f"/whep/{source}"), token=GOOD_TOKEN, host_addresses=LOOPBACK,
                      http=hub.http, **kwargs)


def light(hub, source: str = "cam1", **kwargs) -> LightViewer:
    return LightViewer(hub.url(f"/whep/{source}"), token=GOOD_TOKEN, host_addresses=LOOPBACK,
                       http=hub.http, **kwargs)


async def eventually(predicate, timeout: float = 10.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    assert predicate()


async def test_viewers_decode_the_fast_path_and_payloads_are_built_once(hub) -> None:
    relay = hub.endpoint.relay
    clients = [whep(hub) for _ in range(3)]
    try:
        await asyncio.gather(*(c.start() for c in clients))
        await asyncio.gather(*(c.wait_frames(30, timeout=20) for c in clients))
        assert all((c.width, c.height) == (hub.width, hub.height) for c in clients)
        assert relay.counters.sessions == 3 and relay.counters.fallback_sessions == 0
        stats = relay.metrics()
        assert stats["caches"] == 1
        # three viewers of one source: most access units were packetized once and reused
        assert stats["cache_hits"] > stats["units_packetized"]
        # UDP GSO: several packets of a picture per system call
        assert 0 < stats["send_calls"] < stats["packets_sent"]
        await hub.endpoint.refresh_stats()
        assert all(s["packets_sent"] > 0 and s["bytes_sent"] > 0
                   for s in hub.endpoint.sessions())
    finally:
        await asyncio.gather(*(c.close() for c in clients))
    await eventually(lambda: hub.endpoint.sessions_count() == 0)
    assert relay.metrics()["caches"] == 0


async def test_disabled_fast_relay_uses_aiortc_sender(make_hub) -> None:
    from mediaserver.config.media import WebRtcConfig
    hub = await make_hub(webrtc=WebRtcConfig(host_addresses=LOOPBACK, fast_relay=False))
    assert hub.endpoint.relay is None
    async with whep(hub) as client:
        await client.wait_frames(5, timeout=20)


async def test_viewer_joining_mid_gop_sees_a_picture_before_the_next_keyframe(
        hub, long_gop) -> None:
    stream, _ = long_gop
    await eventually(lambda: len(stream.gop()) >= 40)
    keyframes = stream.stats.keyframes_in
    async with whep(hub, "long") as client:
        await client.wait_frames(1, timeout=15)
        assert stream.stats.keyframes_in == keyframes  # started from the cached keyframe
        assert (client.width, client.height) == (320, 180)
        await client.wait_frames(client.frames + 10, timeout=15)


async def test_pli_with_an_old_cached_keyframe_asks_upstream_once(hub, long_gop) -> None:
    stream, state = long_gop
    relay = hub.endpoint.relay
    viewers = [light(hub, "long") for _ in range(3)]
    try:
        await asyncio.gather(*(v.start() for v in viewers))
        await asyncio.gather(*(eventually(lambda v=v: v.counter.frames > 0) for v in viewers))
        await eventually(lambda: time.monotonic() - stream.keyframe_at > 1.0)
        keyframes = stream.stats.keyframes_in
        for v in viewers:
            v.keyframe_event.clear()
        assert all(await asyncio.gather(*(v.request_keyframe() for v in viewers)))
        await eventually(lambda: stream.stats.keyframes_in > keyframes)
        # three viewers asked within a second: one request went upstream
        assert state["requests"] == 1
        assert stream.keyframe_requests.sent == 1 and stream.keyframe_requests.limited >= 1
        assert relay.counters.keyframe_requests >= 3
        await asyncio.gather(*(asyncio.wait_for(v.keyframe_event.wait(), 10)
                               for v in viewers))
    finally:
        await asyncio.gather(*(v.close() for v in viewers))


async def test_pli_without_an_upstream_is_answered_from_the_gop_cache(hub) -> None:
    relay = hub.endpoint.relay
    viewer = light(hub)
    try:
        await viewer.start()
        await eventually(lambda: viewer.counter.keyframes > 0)
        before = relay.counters.keyframes_from_cache
        assert await viewer.request_keyframe()
        await eventually(lambda: relay.counters.keyframes_from_cache > before)
        await asyncio.wait_for(viewer.keyframe_event.wait(), 10)
        assert hub.streams["cam1"].keyframe_requests.sent == 0
    finally:
        await viewer.close()


async def test_losses_on_the_path_are_repaired_by_nack(hub) -> None:
    relay = hub.endpoint.relay
    lossy = LossyUdpRelay(("127.0.0.1", 0), loss=0.05)
    await lossy.start()
    client = whep(hub, answer_filter=lossy.rewrite_answer)
    counting = None
    try:
        await client.start()
        await client.wait_frames(10, timeout=20)
        await eventually(lambda: relay.counters.retransmitted > 0, timeout=15)
        frames = client.frames
        await client.wait_frames(frames + 25, timeout=20)  # decoded frames continue
        assert lossy.dropped > 0 and relay.counters.nack_received > 0
        # the light viewer's own NACKs are repaired too, over RTX
        await client.close()
        lossy.close()
        lossy = LossyUdpRelay(("127.0.0.1", 0), loss=0.05, seed=11)
        await lossy.start()
        counting = light(hub, nack=True, answer_filter=lossy.rewrite_answer)
        await counting.start()
        await eventually(lambda: counting.repaired > 0, timeout=15)
        assert counting.retransmissions > 0 and counting.nacks_sent > 0
    finally:
        await client.close()
        if counting is not None:
            await counting.close()
        lossy.close()


def _srtp_sessions() -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, pylibsrtp.Session))


async def test_hundred_light_viewers_join_and_leave_without_leaks(hub) -> None:
    async def one_round(count: int) -> None:
        # an HTTP client per round: its keep-alive connections end with it
        async with aiohttp.ClientSession() as http:
            viewers = [LightViewer(hub.url("/whep/cam1"), token=GOOD_TOKEN,
                                   host_addresses=LOOPBACK, http=http) for _ in range(count)]
            try:
                await asyncio.gather(*(v.start() for v in viewers))
                await asyncio.gather(*(eventually(lambda v=v: v.counter.frames > 0,
                                                  timeout=30) for v in viewers))
            finally:
                await asyncio.gather(*(v.close() for v in viewers))

    await one_round(2)  # warm-up: lazily created objects are part of the baseline
    await eventually(lambda: hub.endpoint.sessions_count() == 0)
    baseline_tasks = {t for t in asyncio.all_tasks() if not t.done()}
    baseline_fds = len(os.listdir("/proc/self/fd"))
    baseline_srtp = _srtp_sessions()
    for _ in range(5):
        await one_round(20)
    await eventually(lambda: hub.endpoint.sessions_count() == 0, timeout=20)
    assert hub.endpoint.relay.counters.sessions == 102
    assert hub.streams["cam1"].subscriber_count == 0
    assert hub.endpoint.relay.metrics()["caches"] == 0

    def leftover_tasks() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() - baseline_tasks
                if t is not asyncio.current_task() and not t.done()]

    await eventually(lambda: not leftover_tasks(), timeout=20)
    await eventually(lambda: len(os.listdir("/proc/self/fd")) <= baseline_fds, timeout=20)
    assert _srtp_sessions() <= baseline_srtp


async def test_pli_after_the_source_stopped_replays_nothing(hub) -> None:
    relay = hub.endpoint.relay
    viewer = light(hub)
    try:
        await viewer.start()
        await eventually(lambda: viewer.counter.frames > 5)
        hub.tasks[0].cancel()  # the camera stops publishing (its GOP stays cached)
        await asyncio.gather(hub.tasks[0], return_exceptions=True)
        assert not hub.streams["cam1"].publishing and hub.streams["cam1"].gop()
        await asyncio.sleep(0.3)
        frames = viewer.counter.frames
        assert await viewer.request_keyframe()
        await eventually(lambda: relay.counters.keyframe_requests >= 1)
        await asyncio.sleep(1.0)
        assert viewer.counter.frames == frames and relay.counters.keyframes_from_cache == 0
    finally:
        await viewer.close()
