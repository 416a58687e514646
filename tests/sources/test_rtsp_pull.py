"""RtspPullPublisher against GStreamer's RTSP server (a real camera stand-in) and against tiny
scripted servers on loopback (exact wire behaviour, hostile answers)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from mediaserver.core.access_unit import AccessUnit
from mediaserver.core.stream import Stream
from mediaserver.errors import (
    RtspConnectError,
    UnsupportedMedia,
    UpstreamAuthError,
    UpstreamError,
    UpstreamTimeout,
)
from mediaserver.protocols.h264 import H264Depacketizer, H264Packetizer
from mediaserver.protocols.rtp import RtcpReceiverReport, RtpPacket, parse_rtcp
from mediaserver.protocols.rtsp import InterleavedFrame, MessageReader, Request, Response
from mediaserver.protocols.rtsp.media import find_video_format
from mediaserver.sources.rtsp_client import RtspClientConnection
from mediaserver.sources.rtsp_pull import RtspPullPublisher

CameraFactory = Callable[..., Any]  # the gst_camera fixture of conftest.py


def h264_types(au: AccessUnit) -> list[int]:
    return [n[0] & 0x1F for n in au.nalus]


def h265_types(au: AccessUnit) -> list[int]:
    return [(n[0] >> 1) & 0x3F for n in au.nalus]


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll ``predicate`` until it holds; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    for _ in range(int(timeout / 0.02) + 2):
        if predicate():
            return
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def pull(publisher: RtspPullPublisher, stream: Stream, *, frames: int,
               timeout: float = 10.0) -> list[AccessUnit]:
    """Run the publisher until ``frames`` access units arrived, then cancel it."""
    sub = stream.subscribe("test", maxsize=1000)
    task = asyncio.create_task(publisher.run(stream))
    received: list[AccessUnit] = []
    recv: asyncio.Future[AccessUnit] | None = None
    try:
        async with asyncio.timeout(timeout):
            while len(received) < frames:
                recv = asyncio.ensure_future(sub.recv())
                done, _ = await asyncio.wait({recv, task}, return_when=asyncio.FIRST_COMPLETED)
                if recv not in done:
                    task.result()  # raises the publisher's error
                    raise AssertionError("publisher returned without an error")
                received.append(recv.result())
    finally:
        if recv is not None:
            recv.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        stream.unsubscribe(sub)
    return received


def check_h264_stream(aus: list[AccessUnit], stream: Stream, width: int, height: int,
                      fps: float) -> None:
    first = aus[0]
    assert first.keyframe and first.codec == "h264"
    for au in aus:
        if au.keyframe:
            types = h264_types(au)
            assert {7, 8, 5} <= set(types), types
            assert types.index(7) < types.index(5) and types.index(8) < types.index(5)
    assert sum(au.keyframe for au in aus) >= 2
    pts = [au.pts for au in aus]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    steps = {b - a for a, b in zip(pts, pts[1:], strict=False)}
    assert steps == {round(90000 / fps)}  # a live test source: one frame every 1/fps s
    assert stream.track is not None
    assert (stream.track.codec, stream.track.width, stream.track.height) == ("h264", width,
                                                                            height)
    assert stream.track.fps == fps


# -- against GStreamer ------------------------------------------------------------------------

async def test_pull_h264_with_in_band_parameter_sets(gst_camera: CameraFactory
                                                     ) -> None:
    cam = gst_camera(width=352, height=288, fps=25, gop=10)
    stream = Stream("cam-h264")
    publisher = RtspPullPublisher(cam.url, read_timeout=5)
    started = time.monotonic()
    aus = await pull(publisher, stream, frames=25)
    elapsed = time.monotonic() - started
    check_h264_stream(aus, stream, 352, 288, 25.0)
    assert 0.5 < elapsed < 3.0  # 25 frames of a live 25 fps camera take about a second
    assert stream.stats.sessions == 1 and stream.stats.aus_in >= 25
    assert publisher.packets_received > 25 and publisher.bytes_received > 1000
    assert publisher.packets_lost == 0 and publisher.packets_malformed == 0


async def test_pull_with_parameter_sets_only_in_the_sdp(gst_camera: CameraFactory
                                                        ) -> None:
    cam = gst_camera(sps_in_sdp_only=True, width=320, height=240, gop=10)
    # First see with our own eyes that the camera really sends SPS/PPS only in the SDP.
    seen: list[list[int]] = []
    depacketizer = H264Depacketizer()

    def on_frame(channel: int, payload: bytes) -> None:
        if channel == 0:
            seen.extend(h264_types(AccessUnit(f.nalus, 0, f.keyframe))
                        for f in depacketizer.push(RtpPacket.parse(payload)))

    async with RtspClientConnection(cam.url, on_frame=on_frame) as conn:
        sdp, base = await conn.describe()
        fmt = find_video_format(sdp)
        assert fmt is not None and len(fmt.parameter_sets) == 2
        setup = await conn.request("SETUP", f"{base}{fmt.media.control}",
                                   headers={"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
        conn.session = setup.headers["Session"].split(";")[0]
        conn.expect_ok("PLAY", await conn.request("PLAY", base))
        await eventually(lambda: sum(5 in types for types in seen) >= 2)
    assert not any(7 in types or 8 in types for types in seen), seen[:3]

    stream = Stream("cam-sdp-only")
    aus = await pull(RtspPullPublisher(cam.url), stream, frames=15)
    check_h264_stream(aus, stream, 320, 240, 25.0)
    # prepended from the SDP's sprop-parameter-sets, after the access unit delimiter if any
    assert [t for t in h264_types(aus[0]) if t != 9][:2] == [7, 8]
    assert stream.track.parameter_sets == fmt.parameter_sets


@pytest.mark.parametrize("auth", ["digest", "basic"])
async def test_authentication(gst_camera: CameraFactory, auth: str) -> None:
    password = "p@ss:w/rd é"  # needs percent-encoding in the URL
    cam = gst_camera(user="admin", password=password, auth=auth)
    aus = await pull(RtspPullPublisher(cam.url), Stream("cam-auth"), frames=3)
    assert aus[0].keyframe
    for url in (cam.url_with("admin", "Bad-Pw-9"), cam.plain_url):
        started = time.monotonic()
        with pytest.raises(UpstreamAuthError) as info:
            await RtspPullPublisher(url).run(Stream("cam-auth-bad"))
        assert time.monotonic() - started < 2.0
        assert "Bad-Pw-9" not in str(info.value) and password not in str(info.value)


async def test_udp_transport_drops_foreign_packets(gst_camera: CameraFactory) -> None:
    cam = gst_camera(gop=10)
    stream = Stream("cam-udp")
    publisher = RtspPullPublisher(cam.url, transport="udp")
    sub = stream.subscribe("t", maxsize=1000)
    task = asyncio.create_task(publisher.run(stream))
    try:
        assert await stream.wait_keyframe(10)
        assert publisher.udp_ports is not None
        rtp_port = publisher.udp_ports[0]
        assert rtp_port % 2 == 0 and publisher.udp_ports[1] == rtp_port + 1
        with contextlib.closing(__import__("socket").socket(2, 2)) as spoof:
            spoof.bind(("127.0.0.2", 0))  # another address on the loopback network
            for _ in range(5):
                spoof.sendto(b"\x80\x60" + bytes(30), ("127.0.0.1", rtp_port))
        await eventually(lambda: publisher.foreign_packets >= 5 and sub.qsize() >= 20)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert publisher.foreign_packets == 5
    assert publisher.packets_malformed == 0 and publisher.packets_received > 20
    assert publisher.udp_ports is None


async def test_pull_h265(gst_camera: CameraFactory, gst_element: Callable[[str], bool]) -> None:
    if not gst_element("x265enc"):
        pytest.skip("GStreamer x265enc (plugins-bad) is not installed")
    cam = gst_camera(codec="h265", width=320, height=240, gop=10)
    stream = Stream("cam-h265")
    aus = await pull(RtspPullPublisher(cam.url), stream, frames=15)
    assert aus[0].keyframe and aus[0].codec == "h265"
    assert {32, 33, 34} <= set(h265_types(aus[0]))
    assert any(16 <= t <= 21 for t in h265_types(aus[0]))
    pts = [au.pts for au in aus]
    assert all(b > a for a, b in zip(pts, pts[1:], strict=False))
    assert (stream.track.codec, stream.track.width, stream.track.height) == ("h265", 320, 240)
    assert len(stream.track.parameter_sets) == 3


async def test_camera_stopped_then_restarted(gst_camera: CameraFactory) -> None:
    cam = gst_camera(gop=10)
    stream = Stream("cam-restart")
    publisher = RtspPullPublisher(cam.url, read_timeout=3)
    task = asyncio.create_task(publisher.run(stream))
    assert await stream.wait_keyframe(10)
    await cam.astop()
    started = time.monotonic()
    with pytest.raises(UpstreamError):
        await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 3.5
    stream.end_session()
    await cam.astart()  # same port: what a supervisor's retry finds
    aus = await pull(publisher, stream, frames=5)
    assert aus[0].keyframe and stream.stats.sessions == 2


async def test_frozen_camera_times_out(gst_camera: CameraFactory) -> None:
    cam = gst_camera(gop=10)
    stream = Stream("cam-frozen")
    task = asyncio.create_task(RtspPullPublisher(cam.url, read_timeout=1.5).run(stream))
    assert await stream.wait_keyframe(10)
    cam.freeze()  # TCP stays open, no RTP
    started = time.monotonic()
    try:
        with pytest.raises(UpstreamTimeout) as info:
            await asyncio.wait_for(task, 5)
    finally:
        cam.thaw()
    assert 1.0 < time.monotonic() - started < 3.0
    assert str(info.value) == "no RTP from the camera for 1.5 s"


# -- scripted servers -------------------------------------------------------------------------

SPS = bytes.fromhex("6742c00dda0507ec05a830303528000003000800000301947" "8a155")
PPS = bytes.fromhex("68ce3c80")
SDP = ("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=scripted\r\nt=0 0\r\na=control:*\r\n"
       "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
       "a=fmtp:96 packetization-mode=1;sprop-parameter-sets=Z0LADdoFB+wFqDAwNSgAAAMACAAAAwGUeKFV,"
       "aM48gA==\r\na=control:track1\r\n")

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@contextlib.asynccontextmanager
async def scripted_server(handler: Handler):
    """Serve ``handler`` on a free loopback port; its connections are cancelled on exit."""
    handlers: set[asyncio.Task[None]] = set()

    async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        handlers.add(task)
        try:
            await handler(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            return  # this test server's own shutdown; asyncio would log it as an error
        finally:
            writer.close()

    server = await asyncio.start_server(guarded, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"rtsp://127.0.0.1:{port}/cam"
    finally:
        server.close()
        for task in handlers:
            task.cancel()
        await asyncio.gather(*handlers, return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)


async def read_request(reader: asyncio.StreamReader, parser: MessageReader) -> Request | None:
    """The next request from the client; interleaved frames are returned too."""
    while (event := parser.next_event()) is None:
        data = await reader.read(65536)
        if not data:
            return None
        parser.feed(data)
    return event


class FakeCamera:
    """Answers OPTIONS/DESCRIBE/SETUP/PLAY/GET_PARAMETER/TEARDOWN like a camera, then sends
    ``frames`` H.264 pictures 40 ms apart with RTP timestamps from ``first_ts``. Records every
    request and every interleaved frame the client sends."""

    def __init__(self, *, first_ts: int = 0, frames: int = 1000, timeout: int = 60,
                 sdp: str = SDP, extra_frames: list[bytes] | None = None) -> None:
        self.first_ts = first_ts
        self.frames = frames
        self.timeout = timeout
        self.sdp = sdp
        self.extra_frames = extra_frames or []
        self.requests: list[Request] = []
        self.client_frames: list[InterleavedFrame] = []
        self._media: asyncio.Task[None] | None = None

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = MessageReader()
        try:
            while (event := await read_request(reader, parser)) is not None:
                if isinstance(event, InterleavedFrame):
                    self.client_frames.append(event)
                    continue
                self.requests.append(event)
                writer.write(self.answer(event).serialize())
                if event.method == "PLAY":
                    self._media = asyncio.create_task(self.media(writer))
        finally:
            if self._media is not None:
                self._media.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._media

    def answer(self, request: Request) -> Response:
        headers = {"Session": f"12345678;timeout={self.timeout}"}
        if request.method == "OPTIONS":
            return Response.make(200, request.cseq, {"Public": "OPTIONS, DESCRIBE, SETUP, PLAY, "
                                                     "GET_PARAMETER, TEARDOWN"})
        if request.method == "DESCRIBE":
            return Response.make(200, request.cseq, {
                "Content-Type": "application/sdp", "Content-Base": "rtsp://127.0.0.1/cam/"},
                self.sdp.encode())
        if request.method == "SETUP":
            headers["Transport"] = "RTP/AVP/TCP;unicast;interleaved=0-1"
        return Response.make(200, request.cseq, headers)

    async def media(self, writer: asyncio.StreamWriter) -> None:
        for frame in self.extra_frames:
            writer.write(frame)
        packetizer = H264Packetizer(96, 0x1234, initial_sequence=65530)
        for index in range(self.frames):
            if index % 10 == 0:
                nalus = [SPS, PPS, b"\x65" + bytes([index % 256]) * 3000]
            else:
                nalus = [b"\x41" + bytes([index % 256]) * 400]
            timestamp = (self.first_ts + index * 3600) & 0xFFFFFFFF
            for packet in packetizer.packetize(nalus, timestamp):
                writer.write(InterleavedFrame(0, packet.serialize()).serialize())
            await writer.drain()
            await asyncio.sleep(0.04)

    def methods(self) -> list[str]:
        return [r.method for r in self.requests]


async def test_timestamps_unwrap_across_32_bits() -> None:
    camera = FakeCamera(first_ts=2**32 - 3600 * 5, frames=25)
    async with scripted_server(camera) as url:
        stream = Stream("wrap")
        aus = await pull(RtspPullPublisher(url), stream, frames=20)
    steps = {b.pts - a.pts for a, b in zip(aus, aus[1:], strict=False)}
    assert steps == {3600}
    assert (stream.track.width, stream.track.height) == (320, 240)


async def test_keepalive_receiver_reports_and_teardown_on_cancel() -> None:
    camera = FakeCamera(timeout=2)  # keep-alive every second
    tasks_before = asyncio.all_tasks()
    async with scripted_server(camera) as url:
        stream = Stream("keepalive")
        publisher = RtspPullPublisher(url)
        task = asyncio.create_task(publisher.run(stream))
        await asyncio.sleep(2.4)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await asyncio.sleep(0.1)
    methods = camera.methods()
    assert methods[:4] == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY"]
    assert methods.count("GET_PARAMETER") == 2
    assert methods[-1] == "TEARDOWN"
    teardown = camera.requests[-1]
    assert teardown.uri == "rtsp://127.0.0.1/cam/" and teardown.headers["Session"] == "12345678"
    assert camera.requests[2].uri == "rtsp://127.0.0.1/cam/track1"
    reports = [p for f in camera.client_frames if f.channel == 1 for p in parse_rtcp(f.payload)]
    assert any(isinstance(p, RtcpReceiverReport) and p.reports[0].ssrc == 0x1234
               for p in reports)
    assert publisher.packets_lost == 0 and publisher.frames_received > 40
    assert asyncio.all_tasks() - tasks_before == set()  # the reader task is gone too


async def test_malformed_rtp_and_unknown_channels_are_counted_not_fatal() -> None:
    garbage = [InterleavedFrame(0, b"\x00garbage").serialize(),  # RTP version 0
               InterleavedFrame(0, b"").serialize(),
               InterleavedFrame(5, b"\x80" * 20).serialize(),  # a channel never set up
               InterleavedFrame(1, b"\x81\xc9\xff\xff").serialize(),  # RTCP length past end
               InterleavedFrame(0, RtpPacket(97, 1, 0, 1, b"x").serialize()).serialize()]
    camera = FakeCamera(frames=12, extra_frames=garbage)
    async with scripted_server(camera) as url:
        publisher = RtspPullPublisher(url)
        aus = await pull(publisher, Stream("garbage"), frames=10)
    assert aus[0].keyframe
    assert publisher.packets_malformed == 5


async def test_audio_only_camera_is_unsupported() -> None:
    sdp = "v=0\r\ns=audio\r\nt=0 0\r\nm=audio 0 RTP/AVP 8\r\na=rtpmap:8 PCMA/8000\r\n"
    async with scripted_server(FakeCamera(sdp=sdp)) as url:
        with pytest.raises(UnsupportedMedia) as info:
            await RtspPullPublisher(url).run(Stream("audio"))
    assert str(info.value) == "no H.264/H.265 video track (tracks: audio PCMA)"


async def test_401_loop_raises_after_one_retry() -> None:
    seen: list[Request] = []

    async def always_401(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        parser = MessageReader()
        while (request := await read_request(reader, parser)) is not None:
            seen.append(request)
            writer.write(Response.make(401, request.cseq, {
                "WWW-Authenticate": 'Digest realm="r", nonce="abc"'}).serialize())

    async with scripted_server(always_401) as url:
        with pytest.raises(UpstreamAuthError):
            await RtspPullPublisher(url.replace("rtsp://", "rtsp://u:p@")).run(Stream("401"))
    assert [r.method for r in seen] == ["OPTIONS", "OPTIONS"]
    assert "Authorization" not in seen[0].headers
    assert seen[1].headers["Authorization"].startswith('Digest username="u", realm="r"')


async def _garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1000)
    writer.write(b"\x00\xffNOT RTSP AT ALL\r\n\r\n")
    await asyncio.sleep(5)


async def _huge_content_length(reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                               ) -> None:
    await reader.read(1000)
    writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\nContent-Length: 999999999\r\n\r\nxx")
    await asyncio.sleep(5)


async def _endless_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1000)
    writer.write(b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n")
    for index in range(100_000):
        writer.write(b"X-Pad-%d: %s\r\n" % (index, b"a" * 200))
        await writer.drain()
        await asyncio.sleep(0)


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1000)
    await asyncio.sleep(5)


async def _slowloris(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1000)
    for byte in b"RTSP/1.0 200 OK\r\nCSeq: 1\r\n" * 10:
        writer.write(bytes((byte,)))
        await asyncio.sleep(0.05)


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read(1000)


@pytest.mark.parametrize(("handler", "error", "message"), [
    (_garbage, UpstreamError, "malformed RTSP from the camera: 400 leading whitespace or NUL "
     "in start line"),
    (_huge_content_length, UpstreamError, "malformed RTSP from the camera: 413 body of "
     "999999999 bytes exceeds 131072"),
    (_endless_headers, UpstreamError, "malformed RTSP from the camera: 431 header block "
     "exceeds 16384 bytes"),
    (_silent, UpstreamTimeout, "OPTIONS: no response within 0.5 s"),
    (_slowloris, UpstreamTimeout, "OPTIONS: no response within 0.5 s"),
    (_hang_up, RtspConnectError, "connection closed by the camera"),
])
async def test_hostile_servers_fail_cleanly(handler: Handler, error: type[Exception],
                                            message: str) -> None:
    tasks_before = asyncio.all_tasks()
    async with scripted_server(handler) as url:
        started = time.monotonic()
        with pytest.raises(error) as info:
            await RtspPullPublisher(url, connect_timeout=0.5).run(Stream("hostile"))
        assert time.monotonic() - started < 1.5
    assert type(info.value) is error and str(info.value) == message
    assert asyncio.all_tasks() - tasks_before == set()  # no reader task left behind
