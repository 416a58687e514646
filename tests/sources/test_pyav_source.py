"""PyAV sources against real files, a real aiohttp server and a real Stream + Subscriber."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import av
import numpy as np
import pytest
from aiohttp import web

from loadtests.camfarm.clips import make_clip
from mediaserver.core.stream import Stream
from mediaserver.errors import (
    SourceNotAllowed,
    UnsupportedMedia,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeout,
)
from mediaserver.sources.pyav_source import (
    ClipCache,
    LoopingFilePublisher,
    PyAVPublisher,
    read_access_units,
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("pyav")
    return {
        "one": make_clip(root / "one second.mp4", name="Loop", profile="sub360", seconds=1,
                         seed=3),
        "two_gops": make_clip(root / "gops.mp4", name="Gops", profile="sub360", seconds=2.2,
                              seed=4),
        "hevc": make_clip(root / "hevc.mp4", name="Hevc", profile="sub360", seconds=0.4,
                          seed=5, codec="h265"),
    }


def h264_types(au) -> list[int]:
    return [n[0] & 0x1F for n in au.nalus]


async def collect(sub, seconds: float, count: int = 10**6) -> list[tuple[float, object]]:
    """(arrival time, access unit) pairs for ``seconds`` or until ``count`` arrived."""
    out = []
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0 and len(out) < count:
        try:
            au = await asyncio.wait_for(sub.recv(), left)
        except TimeoutError:
            break
        out.append((loop.time(), au))
    return out


async def stop(task: asyncio.Task) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- read_access_units -----------------------------------------------------------------------

def test_read_access_units_h264(clips):
    track, aus = read_access_units(clips["two_gops"])
    assert (track.codec, track.width, track.height, track.fps) == ("h264", 640, 360, 25.0)
    assert [ps[0] & 0x1F for ps in track.parameter_sets] == [7, 8]
    assert len(aus) == 55
    assert [i for i, au in enumerate(aus) if au.keyframe] == [0, 50]
    assert [au.pts for au in aus] == [i * 3600 for i in range(55)]
    for au in aus:
        assert au.codec == "h264"
        assert all(n and not n.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))
                   for n in au.nalus)
        types = h264_types(au)
        assert 9 not in types  # no access unit delimiters
        if au.keyframe:
            assert {7, 8, 5} <= set(types)
            assert types.index(7) < types.index(5) and types.index(8) < types.index(5)
        else:
            assert set(types) == {1}


def test_read_access_units_h265(clips):
    track, aus = read_access_units(clips["hevc"])
    assert (track.codec, track.width, track.height) == ("h265", 640, 360)
    assert [(ps[0] >> 1) & 0x3F for ps in track.parameter_sets] == [32, 33, 34]
    assert aus[0].keyframe and not any(au.keyframe for au in aus[1:])
    assert {32, 33, 34} <= {(n[0] >> 1) & 0x3F for n in aus[0].nalus}
    assert [au.pts for au in aus] == [i * 3600 for i in range(10)]


def test_access_units_decode_to_the_clip(clips):
    """What we extract is a valid stream: PyAV decodes it to the same pictures."""
    _, aus = read_access_units(clips["one"])
    ctx = av.CodecContext.create("h264", "r")
    frames = ctx.decode(av.Packet(aus[0].annexb)) + ctx.decode(None)
    with av.open(str(clips["one"])) as container:
        reference = next(container.decode(video=0))
    diff = np.abs(frames[0].to_ndarray(format="gray").astype(int)
                  - reference.to_ndarray(format="gray").astype(int))
    assert diff.max() == 0


def test_read_errors(tmp_path):
    with pytest.raises(UpstreamError, match="cannot read"):
        read_access_units(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    with pytest.raises(UnsupportedMedia):
        read_access_units(text)
    with pytest.raises(UpstreamError, match="limit"):
        read_access_units(text, max_bytes=100)


def test_audio_only_and_other_codecs_are_unsupported(tmp_path):
    audio = tmp_path / "tone.wav"
    with av.open(str(audio), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16",
                                           layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    with pytest.raises(UnsupportedMedia, match="no video track"):
        read_access_units(audio)
    mjpeg = tmp_path / "old.mkv"
    with av.open(str(mjpeg), "w") as container:
        stream = container.add_stream("mjpeg", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuvj420p"
        frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
        container.mux(stream.encode(frame.reformat(format="yuvj420p")))
        container.mux(stream.encode(None))
    with pytest.raises(UnsupportedMedia, match="transcoder"):
        read_access_units(mjpeg)


# -- LoopingFilePublisher --------------------------------------------------------------------

async def test_looping_publisher_real_time_and_monotonic(clips):
    stream = Stream("loop")
    sub = stream.subscribe("test")
    publisher = LoopingFilePublisher(clips["one"])
    task = asyncio.create_task(publisher.run(stream))
    received = await collect(sub, 2.5)
    await stop(task)
    assert publisher.loops >= 2  # crossed two loop boundaries of the 1 s clip
    times = [t for t, _ in received]
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert 22 < rate < 28, rate
    pts = [au.pts for _, au in received]
    assert all(b - a == 3600 for a, b in zip(pts, pts[1:], strict=False))  # also at the loop
    assert received[0][1].keyframe and received[25][1].keyframe
    assert stream.track.codec == "h264" and stream.track.width == 640
    assert stream.latest_keyframe() is not None


async def test_looping_publisher_late_loop_does_not_burst(clips):
    stream = Stream("late")
    sub = stream.subscribe("test")
    publisher = LoopingFilePublisher(clips["one"])
    task = asyncio.create_task(publisher.run(stream))
    await collect(sub, 0.3)
    busy_until = time.monotonic() + 1.3
    while time.monotonic() < busy_until:  # the event loop is stuck for 1.3 s
        pass
    await asyncio.sleep(0)
    burst = await collect(sub, 0.4)
    await stop(task)
    assert publisher.late_resyncs == 1
    assert len(burst) <= 13, len(burst)  # ~10 at 25 fps; 43 if it tried to catch up


async def test_shared_cache_reads_once(clips, tmp_path):
    cache = ClipCache()
    publishers = [LoopingFilePublisher(clips["one"], cache=cache) for _ in range(20)]
    streams = [Stream(f"s{i}") for i in range(20)]
    tasks = [asyncio.create_task(p.run(s)) for p, s in zip(publishers, streams, strict=True)]
    try:
        await asyncio.wait_for(asyncio.gather(*(s.wait_keyframe(5) for s in streams)), 5)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert cache.loads == 1
    # same samples in memory, distinct access units per stream (pts are per stream)
    a, b = streams[0].latest_keyframe(), streams[1].latest_keyframe()
    assert a is not b and a.nalus[-1] is b.nalus[-1]
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(clips["one"].read_bytes())
    first = await cache.get(copy)
    os.utime(copy, ns=(time.time_ns(), time.time_ns() + 10**9))
    assert await cache.get(copy) is not first and cache.loads == 3


async def test_looping_publisher_missing_file(tmp_path):
    with pytest.raises(UpstreamError):
        await LoopingFilePublisher(tmp_path / "nope.mp4").run(Stream("x"))
    with pytest.raises(UpstreamError):
        await ClipCache().get(tmp_path / "nope.mp4")


def test_from_url(clips, tmp_path):
    url = "file://" + str(clips["one"]).replace(" ", "%20")
    assert LoopingFilePublisher.from_url(url).path == str(clips["one"])
    assert LoopingFilePublisher.from_url(url, root=clips["one"].parent).path == \
        str(clips["one"])
    for bad in ("file:clip.mp4", "file://server/share/clip.mp4", "file:///a%00b.mp4",
                "http://127.0.0.1/clip.mp4"):
        with pytest.raises(SourceNotAllowed):
            LoopingFilePublisher.from_url(bad)
    with pytest.raises(SourceNotAllowed, match="outside"):
        LoopingFilePublisher.from_url(url.replace("/one", "/../one"), root=tmp_path)


# -- PyAVPublisher ---------------------------------------------------------------------------

@pytest.fixture
async def http_base(clips):
    async def unauthorized(request):
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="x"'})

    app = web.Application()
    app.router.add_get("/private/clip.mp4", unauthorized)
    app.router.add_static("/clips", clips["one"].parent)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}"
    await runner.cleanup()


async def check_pyav_stream(url: str) -> None:
    stream = Stream("pyav")
    sub = stream.subscribe("test")
    publisher = PyAVPublisher(url, connect_timeout=5, read_timeout=5)
    task = asyncio.create_task(publisher.run(stream))
    received = await collect(sub, 3, count=25)
    with pytest.raises(UpstreamError, match="end of stream"):
        await asyncio.wait_for(task, 2)
    assert sub.qsize() == 0
    assert len(received) == 25
    assert received[0][1].keyframe and {7, 8, 5} <= set(h264_types(received[0][1]))
    pts = [au.pts for _, au in received]
    assert all(b - a == 3600 for a, b in zip(pts, pts[1:], strict=False))
    elapsed = received[-1][0] - received[0][0]
    assert 0.8 < elapsed < 1.3, elapsed  # a finite file is paced in real time
    assert stream.track.width == 640 and len(stream.track.parameter_sets) == 2


async def test_pyav_publisher_plain_path(clips):
    await check_pyav_stream(str(clips["one"]))


async def test_pyav_publisher_http(http_base):
    await check_pyav_stream(f"{http_base}/clips/one%20second.mp4")


async def test_pyav_publisher_cancel_stops_the_thread(http_base):
    stream = Stream("cancel")
    sub = stream.subscribe("test")
    task = asyncio.create_task(PyAVPublisher(f"{http_base}/clips/gops.mp4").run(stream))
    await asyncio.wait_for(sub.recv(), 5)
    started = time.monotonic()
    await stop(task)
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "pyav-cancel"]


async def test_pyav_publisher_http_errors(http_base):
    with pytest.raises(UpstreamAuthError):
        await PyAVPublisher(f"{http_base}/private/clip.mp4").run(Stream("auth"))
    with pytest.raises(UpstreamError, match="not found"):
        await PyAVPublisher(f"{http_base}/clips/missing.mp4").run(Stream("404"))


async def test_pyav_publisher_missing_and_non_video_files(tmp_path):
    with pytest.raises(UpstreamError, match="not found"):
        await PyAVPublisher(str(tmp_path / "missing.mp4")).run(Stream("missing"))
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 50)
    with pytest.raises(UnsupportedMedia):
        await PyAVPublisher(str(text)).run(Stream("text"))


async def test_pyav_publisher_silent_server_times_out():
    """A server that accepts and never answers: the open is bounded by connect_timeout."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    try:
        started = time.monotonic()
        with pytest.raises(UpstreamTimeout):
            await PyAVPublisher(f"http://127.0.0.1:{port}/live.ts", connect_timeout=0.5,
                                read_timeout=0.5).run(Stream("silent"))
        assert time.monotonic() - started < 3
        # cancelled while blocked in av.open: run() returns within stop_grace
        publisher = PyAVPublisher(f"http://127.0.0.1:{port}/live.ts", connect_timeout=0.8,
                                  read_timeout=0.8, stop_grace=2)
        task = asyncio.create_task(publisher.run(Stream("silent2")))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await stop(task)
        assert time.monotonic() - started < 1.5
    finally:
        server.close()
