"""The RTSP re-serve against real readers (ffprobe, ffmpeg) and raw hostile sockets.

A small real H.264 clip (640x360, 2 s, made with PyAV) feeds a ``Stream`` in real time; the
server reads it through a function-field fake of the StreamProvider (or the real
StreamManager). Every connection is over 127.0.0.1 to a port chosen at run time.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
import pytest

from mediaserver.core.access_unit import AccessUnit, VideoTrack
from mediaserver.core.manager import ManagerSettings, StreamManager
from mediaserver.core.stream import Stream
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SourceNotFound
from mediaserver.protocols.h264 import is_keyframe, parse_sps, split_annexb
from mediaserver.protocols.h265 import is_keyframe as hevc_keyframe
from mediaserver.protocols.rtp import RtpPacket, parse_rtcp
from mediaserver.protocols.rtsp.message import InterleavedFrame, MessageReader, Response
from mediaserver.servers.rtsp.server import RtspServer

WIDTH, HEIGHT, FPS, GOP = 640, 360, 25, 25
FRAME_TICKS = 90_000 // FPS

pytestmark = pytest.mark.timeout(60)


# -- the clip and its publisher --------------------------------------------------------------


@dataclass(frozen=True)
class Clip:
    track: VideoTrack
    access_units: list[tuple[tuple[bytes, ...], bool]]


def encode_clip(codec: str, width: int, height: int, frames: int) -> Clip:
    """Moving pictures encoded with PyAV: keyframe every second, parameter sets in-band."""
    encoder = {"h264": "libx264", "h265": "libx265"}[codec]
    ctx = av.CodecContext.create(encoder, "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.framerate = Fraction(FPS)
    ctx.time_base = Fraction(1, FPS)
    ctx.bit_rate = 800_000
    params = f"keyint={GOP}:min-keyint={GOP}:scenecut=0:bframes=0:repeat-headers=1"
    ctx.options = {"preset": "ultrafast", "tune": "zerolatency",
                   f"{encoder[3:]}-params": params + (":log-level=error" if codec == "h265"
                                                      else "")}
    rng = np.random.default_rng(7)
    packets = []
    for index in range(frames):
        image = rng.integers(0, 40, size=(height, width, 3), dtype=np.uint8)
        image[:, (index * 12) % (width - 60):][:, :60] = 230  # a bar crossing the picture
        frame = av.VideoFrame.from_ndarray(image, format="rgb24")
        frame.pts = index
        packets += [bytes(p) for p in ctx.encode(frame)]
    packets += [bytes(p) for p in ctx.encode(None)]
    keyframe = hevc_keyframe if codec == "h265" else is_keyframe
    aus = []
    for packet in packets:
        nalus = tuple(split_annexb(packet))
        aus.append((nalus, keyframe(nalus)))
    first = aus[0][0]
    sets = tuple(n for n in first if (n[0] >> 1) & 0x3F in (32, 33, 34)) if codec == "h265" \
        else tuple(n for n in first if n[0] & 0x1F in (7, 8))
    return Clip(VideoTrack(codec, width, height, float(FPS), sets), aus)


@pytest.fixture(scope="session")
def clip() -> Clip:
    """2 s of moving 640x360 H.264, encoded once."""
    clip = encode_clip("h264", WIDTH, HEIGHT, 2 * FPS)
    info = parse_sps(clip.track.parameter_sets[0])
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    return clip


class ClipPublisher:
    """A Publisher replaying the clip in real time, forever (fresh AccessUnits each time)."""

    def __init__(self, clip: Clip) -> None:
        self.clip = clip

    async def run(self, stream: Stream) -> None:
        stream.begin_session()
        stream.set_track(self.clip.track)
        loop = asyncio.get_running_loop()
        start = loop.time()
        index = 0
        while True:
            nalus, key = self.clip.access_units[index % len(self.clip.access_units)]
            stream.publish(AccessUnit(nalus, index * FRAME_TICKS, key))
            index += 1
            await asyncio.sleep(max(0.0, start + index / FPS - loop.time()))


@dataclass
class FakeProvider:
    """A StreamProvider over fixed streams; each method is a plain field a test may replace."""

    streams: dict[str, Stream]
    maxsize: int = 100
    subscribers: list[Subscriber] = field(default_factory=list)
    subscribe: Callable[[str, str], Awaitable[Subscriber]] = None  # type: ignore[assignment]
    unsubscribe: Callable[[Subscriber], None] = None  # type: ignore[assignment]
    stream: Callable[[str], Stream | None] = None  # type: ignore[assignment]
    wait_ready: Callable[[str, float], Awaitable[bool]] = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        async def subscribe(source_id: str, name: str) -> Subscriber:
            stream = self.streams.get(source_id)
            if stream is None:
                raise SourceNotFound(source_id)
            sub = stream.subscribe(name, self.maxsize)
            self.subscribers.append(sub)
            return sub

        def unsubscribe(sub: Subscriber) -> None:
            self.streams[sub.stream_id].unsubscribe(sub)

        async def wait_ready(source_id: str, timeout: float) -> bool:
            stream = self.streams.get(source_id)
            return stream is not None and await stream.wait_keyframe(timeout)

        self.subscribe = self.subscribe or subscribe
        self.unsubscribe = self.unsubscribe or unsubscribe
        self.stream = self.stream or self.streams.get
        self.wait_ready = self.wait_ready or wait_ready


@dataclass
class Served:
    server: RtspServer
    provider: FakeProvider
    stream: Stream
    feeder: asyncio.Task[None]

    @property
    def url(self) -> str:
        return f"rtsp://127.0.0.1:{self.server.port}/cam1"


@pytest.fixture
async def serve(clip: Clip) -> AsyncIterator[Callable[..., Awaitable[Served]]]:
    """Start a fed stream and a server on a free port; everything is closed afterwards."""
    started: list[tuple[RtspServer, asyncio.Task[None]]] = []

    async def start(maxsize: int = 100, source: Clip | None = None, **options: object
                    ) -> Served:
        stream = Stream("cam1")
        feeder = asyncio.create_task(ClipPublisher(source or clip).run(stream))
        provider = FakeProvider({"cam1": stream}, maxsize=maxsize)
        server = RtspServer(provider, host="127.0.0.1", port=0, **options)
        await server.start()
        started.append((server, feeder))
        assert await stream.wait_keyframe(5)
        return Served(server, provider, stream, feeder)

    yield start
    for server, feeder in started:
        await server.aclose()
        feeder.cancel()
        await asyncio.gather(feeder, return_exceptions=True)


# -- a raw RTSP client -----------------------------------------------------------------------


class RawClient:
    """Speaks RTSP byte by byte, so a test can send anything."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = MessageReader()
        self.cseq = 0
        self.frames: list[InterleavedFrame] = []

    @classmethod
    async def connect(cls, port: int, rcvbuf: int | None = None) -> RawClient:
        if rcvbuf is None:
            return cls(*await asyncio.open_connection("127.0.0.1", port))
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        return cls(*await asyncio.open_connection(sock=sock))

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def event(self, timeout: float = 5.0) -> Response | InterleavedFrame | None:
        """The next response or frame; None at EOF."""
        async with asyncio.timeout(timeout):
            while True:
                event = self.parser.next_event()
                if event is not None:
                    return event
                data = await self.reader.read(65536)
                if not data:
                    return None
                self.parser.feed(data)

    async def response(self, timeout: float = 5.0) -> Response | None:
        while True:
            event = await self.event(timeout)
            if event is None or isinstance(event, Response):
                return event
            self.frames.append(event)

    async def request(self, method: str, uri: str, headers: dict[str, str] | None = None,
                      ) -> Response:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        await self.send(("\r\n".join(lines) + "\r\n\r\n").encode())
        response = await self.response()
        assert response is not None, f"connection closed instead of answering {method}"
        assert response.cseq == self.cseq
        return response

    async def play(self, url: str, transport: str = "RTP/AVP/TCP;unicast;interleaved=0-1"
                   ) -> tuple[str, Response]:
        assert (await self.request("DESCRIBE", url)).status == 200
        setup = await self.request("SETUP", url + "/trackID=0", {"Transport": transport})
        assert setup.status == 200, setup
        session = setup.headers["Session"].split(";")[0]
        play = await self.request("PLAY", url + "/", {"Session": session})
        assert play.status == 200
        return session, play

    async def closed(self, timeout: float) -> bool:
        """True when the server hangs up within ``timeout`` (reading everything it sends);
        the client side is then closed too."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        self.close()
        return True

    def close(self) -> None:
        self.writer.transport.abort()


async def status_of(port: int, data: bytes) -> int | None:
    """Send raw bytes on a fresh connection; the status answered, None when just closed."""
    client = await RawClient.connect(port)
    try:
        await client.send(data)
        response = await client.response()
        return None if response is None else response.status
    finally:
        client.close()


async def run_tool(*args: str, timeout: float = 20) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


async def decoded_frames(url: str, transport: str, seconds: float) -> int:
    code, out, err = await run_tool("ffmpeg", "-nostdin", "-hide_banner", "-rtsp_transport",
                                    transport, "-i", url, "-t", str(seconds), "-f", "null",
                                    "-progress", "pipe:1", "-")
    assert code == 0, err[-2000:]
    return int(re.findall(r"^frame=(\d+)", out, re.M)[-1])


# -- real readers ------------------------------------------------------------------------------


async def test_ffprobe_sees_h264_at_the_right_size(serve):
    served = await serve()
    code, out, err = await run_tool("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                                    "-show_streams", "-of", "json", served.url)
    assert code == 0, err
    (video,) = json.loads(out)["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("h264", WIDTH, HEIGHT)
    assert served.server.stats.sessions_total == 1


async def test_ffmpeg_decodes_over_tcp_and_udp(serve):
    served = await serve()
    tcp, udp = await asyncio.gather(decoded_frames(served.url, "tcp", 2),
                                    decoded_frames(served.url, "udp", 2))
    assert tcp >= 2 * FPS - 2 and udp >= 2 * FPS - 2
    stats = served.server.stats
    assert stats.sessions_total == 2 and stats.packets_out > 100 and stats.bytes_out > 50_000
    assert not stats.errors
    await asyncio.sleep(0.2)
    assert stats.sessions_active == 0 and served.stream.subscriber_count == 0


async def test_describe_of_an_on_demand_source_through_the_stream_manager(clip):
    log: list[str] = []

    async def publisher_for(source_id: str) -> ClipPublisher:
        if source_id != "lazy":
            raise SourceNotFound(source_id)
        log.append(source_id)
        return ClipPublisher(clip)

    class Status:
        def source_state(self, source_id: str, state: str, **fields: object) -> None:
            pass

    manager = StreamManager(publisher_for, Status(), ManagerSettings(close_after=0.5))
    server = RtspServer(manager, host="127.0.0.1", port=0)
    await server.start()
    try:
        assert manager.stream("lazy") is None  # nothing pulled before a reader asks
        code, out, err = await run_tool("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                                        "-show_streams", "-of", "json",
                                        f"rtsp://127.0.0.1:{server.port}/lazy")
        assert code == 0, err
        assert json.loads(out)["streams"][0]["width"] == WIDTH
        assert log == ["lazy"]
        assert await status_of(server.port, b"DESCRIBE rtsp://h/other RTSP/1.0\r\n"
                                            b"CSeq: 1\r\n\r\n") == 404
    finally:
        await server.aclose()
        await manager.aclose()


async def test_h265_is_served_with_its_parameter_sets(serve):
    served = await serve(source=encode_clip("h265", 320, 180, FPS))
    client = await RawClient.connect(served.server.port)
    sdp = (await client.request("DESCRIBE", served.url)).body.decode()
    client.close()
    assert "a=rtpmap:96 H265/90000" in sdp
    fmtp = re.search(r"a=fmtp:96 (.*)", sdp)[1]
    assert [p.split("=")[0] for p in fmtp.split(";")] == ["sprop-vps", "sprop-sps", "sprop-pps"]
    code, out, err = await run_tool("ffprobe", "-v", "error", "-rtsp_transport", "tcp",
                                    "-show_streams", "-of", "json", served.url)
    assert code == 0, err
    (video,) = json.loads(out)["streams"]
    assert (video["codec_name"], video["width"], video["height"]) == ("hevc", 320, 180)


async def test_sdp_rtp_info_and_first_packets(serve):
    served = await serve()
    client = await RawClient.connect(served.server.port)
    describe = await client.request("DESCRIBE", served.url)
    sdp = describe.body.decode()
    assert describe.headers["Content-Type"] == "application/sdp"
    assert describe.headers["Content-Base"] == served.url + "/"
    assert "m=video 0 RTP/AVP 96" in sdp and "a=rtpmap:96 H264/90000" in sdp
    assert "a=control:trackID=0" in sdp
    fmtp = re.search(r"a=fmtp:96 (.*)", sdp)[1]
    assert "packetization-mode=1" in fmtp and "sprop-parameter-sets=" in fmtp
    assert f"profile-level-id={served.stream.track.parameter_sets[0][1:4].hex()}" in fmtp

    setup = await client.request("SETUP", served.url + "/trackID=0",
                                 {"Transport": "RTP/AVP/TCP;unicast;interleaved=4-5"})
    transport = setup.headers["Transport"]
    assert "interleaved=4-5" in transport
    ssrc = int(re.search(r"ssrc=([0-9A-Fa-f]+)", transport)[1], 16)
    session = setup.headers["Session"].split(";")[0]
    assert re.fullmatch(r"[0-9a-f]{16}", session)
    play = await client.request("PLAY", served.url + "/", {"Session": session})
    info = dict(p.split("=", 1) for p in play.headers["RTP-Info"].split(";"))
    assert info["url"] == served.url + "/trackID=0"
    first = None
    while first is None:
        event = await client.event()
        if isinstance(event, InterleavedFrame) and event.channel == 4:
            first = RtpPacket.parse(event.payload)
    assert (first.payload_type, first.ssrc) == (96, ssrc)
    assert first.sequence_number == int(info["seq"])
    assert first.timestamp == int(info["rtptime"])

    # PAUSE then PLAY again: the resumed packets continue the sequence and the RTP clock
    assert (await client.request("PAUSE", served.url, {"Session": session})).status == 200
    last = RtpPacket.parse([f for f in client.frames if f.channel == 4][-1].payload)
    client.frames.clear()
    play = await client.request("PLAY", served.url + "/", {"Session": session})
    info = dict(p.split("=", 1) for p in play.headers["RTP-Info"].split(";"))
    resumed = None
    while resumed is None:
        event = await client.event()
        if isinstance(event, InterleavedFrame) and event.channel == 4:
            resumed = RtpPacket.parse(event.payload)
    assert resumed.sequence_number == int(info["seq"]) == (last.sequence_number + 1) % 65536
    assert resumed.timestamp == int(info["rtptime"])
    assert 0 < (resumed.timestamp - last.timestamp) % 2**32 <= FRAME_TICKS
    client.close()


async def test_sender_reports_are_sent(serve):
    served = await serve()
    client = await RawClient.connect(served.server.port)
    await client.play(served.url)
    reports = []
    async with asyncio.timeout(5):
        while not reports:
            event = await client.event()
            if isinstance(event, InterleavedFrame) and event.channel == 1:
                reports = parse_rtcp(event.payload)
    assert type(reports[0]).__name__ == "RtcpSenderReport" and reports[0].packet_count > 0
    client.close()


async def test_unknown_path_and_path_tricks(serve):
    served = await serve()
    port = served.server.port
    for uri, status in [("rtsp://127.0.0.1/nope", 404), ("rtsp://127.0.0.1/cam1/trackID=7", 404),
                        ("rtsp://127.0.0.1/..", 400), ("rtsp://127.0.0.1/%2e%2e", 400),
                        ("rtsp://127.0.0.1/a..%2fb", 400), ("http://127.0.0.1/cam1", 400)]:
        request = f"DESCRIBE {uri} RTSP/1.0\r\nCSeq: 1\r\n\r\n".encode()
        assert await status_of(port, request) == status, uri
    assert served.server.stats.errors[404] == 2 and served.server.stats.errors[400] == 4


async def test_authorize_hook_and_publishing_methods(serve):
    seen = []

    async def authorize(request, path, action):
        seen.append((path, action))
        return request.headers.get("Authorization") == "Bearer ok"

    served = await serve(authorize=authorize)
    client = await RawClient.connect(served.server.port)
    denied = await client.request("DESCRIBE", served.url)
    assert denied.status == 401 and "WWW-Authenticate" in denied.headers
    allowed = await client.request("DESCRIBE", served.url, {"Authorization": "Bearer ok"})
    assert allowed.status == 200 and seen == [("cam1", "read")] * 2
    announce = await client.request("ANNOUNCE", served.url)
    assert announce.status == 405 and "PLAY" in announce.headers["Allow"]
    assert (await client.request("FLY", served.url)).status == 501
    assert (await client.request("OPTIONS", "*")).status == 200
    client.close()


# -- BAD-INPUTS rows 1-5, 8-11 ------------------------------------------------------------------


async def test_bad_request_lines_headers_and_bodies(serve):
    """Rows 1-3: limits, Content-Length abuse, whitespace and NUL in the request line."""
    served = await serve()
    port = served.server.port
    ok = b"OPTIONS rtsp://h/cam1 RTSP/1.0\r\nCSeq: 1\r\n"
    cases = [
        (b"DESCRIBE rtsp://h/" + b"a" * 3000 + b" RTSP/1.0\r\nCSeq: 1\r\n\r\n", 414),
        (b"X" * 100 + b" rtsp://h/cam1 RTSP/1.0\r\nCSeq: 1\r\n\r\n", 400),
        (ok + b"".join(b"X-%d: y\r\n" % i for i in range(300)) + b"\r\n", 431),
        (ok + b"X-Big: " + b"v" * 3000 + b"\r\n\r\n", 431),
        (ok + b"X-Pad: " + b"v" * 2000 + b"\r\n" + b"X: y\r\n" * 3000, 431),  # no end in sight
        (ok + b"Content-Length: -1\r\n\r\n", 400),
        (ok + b"Content-Length: A\r\n\r\n", 400),
        (ok + b"Content-Length: \r\n\r\n", 400),
        (ok + b"Content-Length: 1000000\r\n\r\nx", 413),
        (ok + b"Content-Length: 200000\r\n\r\n" + b"x" * 1000, 413),
        (b" " + ok + b"\r\n", 400),
        (b"   \r\n\r\n", 400),
        (b"OPTIONS rtsp://h/cam1\x00 RTSP/1.0\r\nCSeq: 1\r\n\r\n", 400),
        (b"OPTIONS rtsp://h/cam1 RTSP/1.0\r\n\r\n", 400),  # no CSeq
    ]
    for data, status in cases:
        assert await status_of(port, data) == status, data[:60]
    client = await RawClient.connect(port)  # the server still answers normally
    assert (await client.request("OPTIONS", served.url)).status == 200
    client.close()
    assert served.server.stats.errors[400] >= 7 and served.server.stats.errors[413] == 2


async def test_slow_loris_and_truncated_frames_are_cut_off(serve):
    """Rows 1 and 9: an unterminated header block or a truncated $ frame hits the read
    timeout, while a healthy connection keeps working."""
    served = await serve(request_timeout=1.0)
    loris = await RawClient.connect(served.server.port)
    truncated = await RawClient.connect(served.server.port)
    healthy = await RawClient.connect(served.server.port)
    await loris.send(b"OPTIONS rtsp://h/cam1 RTSP/1.0\r\nCSeq: 1\r\n")
    await truncated.send(b"$\x05\x01\x00" + b"x" * 10)
    started = time.monotonic()
    for _ in range(6):  # trickle a header every 0.3 s: still cut off
        await asyncio.sleep(0.3)
        if loris.writer.transport.is_closing():
            break
        try:
            await loris.send(b"X-Slow: 1\r\n")
        except ConnectionError:
            break
    assert await loris.closed(3) and await truncated.closed(3)
    assert time.monotonic() - started < 4
    assert (await healthy.request("OPTIONS", served.url)).status == 200
    assert served.server.stats.errors[408] == 2
    healthy.close()


async def test_session_state_machine(serve):
    """Row 4: double SETUP, PLAY/PAUSE before SETUP, SETUP/PLAY after TEARDOWN."""
    served = await serve()
    client = await RawClient.connect(served.server.port)
    url = served.url
    assert (await client.request("PLAY", url)).status == 455
    assert (await client.request("PAUSE", url)).status == 455
    tcp = {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"}
    setup = await client.request("SETUP", url + "/trackID=0", tcp)
    session = setup.headers["Session"].split(";")[0]
    again = await client.request("SETUP", url + "/trackID=0", {**tcp, "Session": session})
    assert again.status == 455
    other = url.replace("/cam1", "/cam2")
    assert (await client.request("PLAY", other, {"Session": session})).status == 400
    assert (await client.request("PLAY", url, {"Session": session})).status == 200
    assert (await client.request("PAUSE", url, {"Session": session})).status == 200
    assert (await client.request("PLAY", url, {"Session": session})).status == 200
    assert (await client.request("TEARDOWN", url, {"Session": session})).status == 200
    assert (await client.request("SETUP", url + "/trackID=0", {**tcp, "Session": session})
            ).status == 454
    assert (await client.request("PLAY", url, {"Session": session})).status == 454
    assert (await client.request("GET_PARAMETER", url, {"Session": "bogus!"})).status == 454
    await asyncio.sleep(0.1)
    assert served.stream.subscriber_count == 0 and served.server.stats.sessions_active == 0
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("rtsp-send")]
    client.close()


async def test_session_is_bound_to_its_connection(serve):
    """Row 5: a session id replayed from another connection is unknown there."""
    served = await serve()
    owner = await RawClient.connect(served.server.port)
    session, _ = await owner.play(served.url)
    thief = await RawClient.connect(served.server.port)
    for method in ("PLAY", "PAUSE", "TEARDOWN", "GET_PARAMETER"):
        assert (await thief.request(method, served.url, {"Session": session})).status == 454
    assert len(served.server.sessions) == 1
    assert served.server.sessions[0].state.value == "playing"
    owner.close()
    thief.close()


async def test_bad_transports_and_ranges(serve):
    """Rows 8 and 11: 461 for unusable transports, 457 for ranges that are not npt."""
    served = await serve()
    client = await RawClient.connect(served.server.port)
    track = served.url + "/trackID=0"
    for transport in ["RTP/AVP/TCP;unicast;interleaved=255-256",
                      "RTP/AVP;unicast;client_port=65535-65536", "RTP/XYZ;unicast",
                      "RTP/AVP;multicast", "RTP/AVP;unicast",  # UDP without client ports
                      "RTP/AVP;unicast;client_port=5000-5001;destination=10.9.9.9"]:
        response = await client.request("SETUP", track, {"Transport": transport})
        assert response.status == 461, transport
    assert (await client.request("SETUP", track)).status == 461  # no Transport at all
    setup = await client.request("SETUP", track,
                                 {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
    session = setup.headers["Session"].split(";")[0]
    for value in ["clock=19961108T142300Z-", "garbage", "npt=5-3", "smpte=0:10:00-"]:
        response = await client.request("PLAY", served.url, {"Session": session,
                                                             "Range": value})
        assert response.status == 457, value
    ok = await client.request("PLAY", served.url, {"Session": session, "Range": "npt=0-"})
    assert ok.status == 200
    assert served.server.stats.errors[461] == 7 and served.server.stats.errors[457] == 4
    client.close()


async def test_interleaved_frames_on_unknown_channels_are_dropped(serve):
    """Row 9: frames on channels never set up, empty, maximal or before PLAY are dropped."""
    served = await serve()
    client = await RawClient.connect(served.server.port)
    await client.send(b"$\x09\x00\x00")  # empty, nothing set up
    await client.send(b"$\x09\xff\xff" + bytes(65535))  # largest possible
    setup = await client.request("SETUP", served.url + "/trackID=0",
                                 {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1"})
    session = setup.headers["Session"].split(";")[0]
    await client.send(b"$\x01\x00\x04abcd")  # the session's RTCP channel, before PLAY
    assert (await client.request("OPTIONS", served.url)).status == 200
    assert served.server.stats.frames_ignored == 3
    assert (await client.request("PLAY", served.url, {"Session": session})).status == 200
    client.close()


async def test_connection_caps(serve):
    """Row 10: per-IP and global caps answer 503 and close; admitted clients keep working."""
    served = await serve(max_connections_per_ip=4)
    port = served.server.port
    admitted = [await RawClient.connect(port) for _ in range(4)]
    for client in admitted:
        assert (await client.request("OPTIONS", served.url)).status == 200
    flood = await asyncio.gather(*(RawClient.connect(port) for _ in range(200)))
    responses = await asyncio.gather(*(c.response() for c in flood))
    assert {r.status for r in responses} == {503}
    for client in flood:
        client.close()
    assert served.server.stats.connections_rejected == 200
    for client in admitted:
        assert (await client.request("OPTIONS", served.url)).status == 200
    admitted.pop().close()
    for _ in range(50):  # the freed slot is reusable once the server saw the hang-up
        await asyncio.sleep(0.02)
        if served.server.stats.connections_active < 4:
            break
    late = await RawClient.connect(port)
    assert (await late.request("OPTIONS", served.url)).status == 200
    for client in [*admitted, late]:
        client.close()

    capped = await serve(max_connections=2)
    first, second = [await RawClient.connect(capped.server.port) for _ in range(2)]
    assert (await first.request("OPTIONS", capped.url)).status == 200
    assert (await second.request("OPTIONS", capped.url)).status == 200
    assert await status_of(capped.server.port, b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n\r\n") == 503
    first.close()
    second.close()


# -- slow readers, timeouts, shutdown --------------------------------------------------------------


async def test_a_stalled_reader_does_not_slow_another(serve):
    served = await serve(maxsize=10, write_high_water=32 * 1024, send_buffer=32 * 1024,
                         session_timeout=30)
    stalled = await RawClient.connect(served.server.port, rcvbuf=4096)
    await stalled.play(served.url)  # ... and never reads again
    (session,) = served.server.sessions
    sub = session.subscriber

    async def stalled_drops() -> int:
        for _ in range(100):
            if sub.dropped:
                break
            await asyncio.sleep(0.1)
        return sub.dropped

    started, published = time.monotonic(), served.stream.stats.aus_in
    frames, drops = await asyncio.gather(decoded_frames(served.url, "tcp", 3),
                                         stalled_drops())
    elapsed = time.monotonic() - started
    assert frames >= 3 * FPS - 2 and elapsed < 8
    assert drops > 0
    # the camera side kept its real-time pace: publish() never waited for the stalled reader
    assert (served.stream.stats.aus_in - published) / elapsed > FPS * 0.9
    stalled.close()
    await asyncio.sleep(0.2)
    assert served.server.stats.subscriber_drops >= drops


async def test_session_timeout_without_keep_alive(serve):
    served = await serve(session_timeout=1.0)
    silent = await RawClient.connect(served.server.port)
    await silent.play(served.url)
    alive = await RawClient.connect(served.server.port)
    session, _ = await alive.play(served.url)

    async def keep_alive() -> None:
        for _ in range(8):
            await asyncio.sleep(0.3)
            await alive.send(b"GET_PARAMETER %s RTSP/1.0\r\nCSeq: 99\r\nSession: %s\r\n\r\n"
                             % (served.url.encode(), session.encode()))

    keeper = asyncio.create_task(keep_alive())
    assert await silent.closed(4)  # reads everything but never says anything
    assert served.server.stats.sessions_timed_out == 1
    assert not await alive.closed(0.5)
    await keeper
    assert len(served.server.sessions) == 1
    silent.close()
    alive.close()


async def test_aclose_leaves_no_task_or_subscriber_behind(serve):
    before = asyncio.all_tasks()
    served = await serve()
    playing = await RawClient.connect(served.server.port)
    await playing.play(served.url)
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    receiver.bind(("127.0.0.1", 0))
    rtp_port = receiver.getsockname()[1]
    udp = await RawClient.connect(served.server.port)
    await udp.play(served.url, f"RTP/AVP;unicast;client_port={rtp_port}-{rtp_port + 1}")
    receiver.settimeout(2)
    assert RtpPacket.parse(receiver.recv(2048)).payload_type == 96
    idle = await RawClient.connect(served.server.port)
    await idle.send(b"OPTIONS rtsp://h/cam1 RTSP/1.0\r\n")  # half a request
    await asyncio.sleep(0.2)
    assert served.stream.subscriber_count == 2
    await served.server.aclose()
    leftover = {t for t in asyncio.all_tasks() - before if not t.done()}
    assert leftover == {served.feeder}  # the clip feeder belongs to the test
    assert served.stream.subscriber_count == 0
    assert served.server.stats.connections_active == 0
    assert served.server.stats.sessions_active == 0
    for client in (playing, udp, idle):
        assert await client.closed(1)
    receiver.close()
