"""RTMP publish ingest against a real publisher (ffmpeg) and raw hostile sockets.

The server feeds the real publisher lifecycle (PushPublishers) and StreamManager; the source
registry and the status sink are function-field fakes (neighbours). Loopback only, ports
chosen at run time.
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from loadtests.camfarm.clips import ClipProfile, make_clip
from mediaserver.config.push import RtmpConfig
from mediaserver.core.manager import ManagerSettings, StreamManager
from mediaserver.core.push import PushPublishers
from mediaserver.errors import AccessDenied
from mediaserver.protocols.rtmp import amf0, messages
from mediaserver.protocols.rtmp.chunk import ChunkReader, ChunkWriter, Message
from mediaserver.protocols.rtmp.handshake import HANDSHAKE_SIZE
from mediaserver.servers.rtmp.server import RtmpServer

pytestmark = pytest.mark.timeout(60)

FIXTURE = Path(__file__).parents[1] / "protocols" / "fixtures" / "rtmp_ffmpeg_publish.bin"
PUSH_PROFILE = ClipProfile("push240", 320, 240, 25, 300_000, gop=25)


# -- neighbours -------------------------------------------------------------------------------


@dataclass
class FakeSource:
    id: str
    publish: bool = True


@dataclass
class Registry:
    """Function-field fake of the source registry."""

    sources: dict[str, FakeSource] = field(default_factory=dict)

    async def get(self, source_id: str) -> FakeSource | None:
        return self.sources.get(source_id)


@dataclass
class StatusLog:
    """Records every state the sink is given, in order."""

    events: list[tuple[str, str, dict]] = field(default_factory=list)

    def source_state(self, source_id: str, state: str, **fields: object) -> None:
        self.events.append((source_id, state, fields))

    def states(self, source_id: str) -> list[str]:
        return [state for sid, state, _ in self.events if sid == source_id]


@dataclass
class Rig:
    manager: StreamManager
    push: PushPublishers
    registry: Registry
    status: StatusLog


async def _no_publisher(source_id: str) -> None:
    return None


@pytest.fixture
async def rig() -> AsyncIterator[Callable[..., Awaitable[Rig]]]:
    """``rig(grace_period=, silence_timeout=, takeover=)``: manager + publisher lifecycle with
    pushed sources ``cam1``, ``cam2`` and a pulled one, ``fixed``."""
    made: list[Rig] = []

    async def factory(**options: object) -> Rig:
        registry = Registry({"cam1": FakeSource("cam1"), "cam2": FakeSource("cam2"),
                             "fixed": FakeSource("fixed", publish=False)})
        status = StatusLog()
        manager = StreamManager(_no_publisher, status, ManagerSettings(close_after=0.5))
        settings = {"grace_period": 2.0, "silence_timeout": 3.0, **options}
        push = PushPublishers(manager, status, registry, **settings)  # type: ignore[arg-type]
        await push.start()
        made.append(Rig(manager, push, registry, status))
        return made[-1]

    yield factory
    for item in made:
        await item.push.aclose()
        await item.manager.aclose()


@pytest.fixture(scope="session")
def push_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s of 320x240 H.264 at 25 fps, a keyframe every second (encoded once)."""
    return make_clip(tmp_path_factory.mktemp("clips") / "push.mp4", name="push-test",
                     profile=PUSH_PROFILE, seconds=4)


async def wait_for(predicate: Callable[[], object], timeout: float, interval: float = 0.05):
    async with asyncio.timeout(timeout):
        while not (result := predicate()):
            await asyncio.sleep(interval)
    return result


async def run_ffmpeg(*args: str, timeout: float = 30) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", *args,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        _, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, err.decode(errors="replace")


def ffmpeg_rtmp(clip: Path, url: str, seconds: float = 3) -> list[str]:
    return ["-re", "-i", str(clip), "-t", str(seconds), "-c", "copy", "-f", "flv", url]


async def start_server(rig: Rig, authorize=None, **config: object) -> RtmpServer:
    server = RtmpServer(rig.push, authorize,
                        RtmpConfig(host="127.0.0.1", port=0, **config))  # type: ignore[arg-type]
    await server.start()
    return server


# -- a raw client: sends anything ----------------------------------------------------------------


def captured_tags() -> list[Message]:
    """ffmpeg's video messages from the captured session (160x120 H.264)."""
    data = FIXTURE.read_bytes()
    reader = ChunkReader()
    reader.feed(data[1 + 2 * HANDSHAKE_SIZE:])
    out = []
    while (message := reader.next_message()) is not None:
        if message.type_id == messages.VIDEO:
            out.append(message)
    return out


class RawRtmp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.out = ChunkWriter()
        self.incoming = ChunkReader()

    @classmethod
    async def connect(cls, port: int, handshake: bool = True) -> RawRtmp:
        client = cls(*await asyncio.open_connection("127.0.0.1", port))
        if handshake:
            client.writer.write(b"\x03" + bytes(HANDSHAKE_SIZE))
            s0s1s2 = await client.reader.readexactly(1 + 2 * HANDSHAKE_SIZE)
            client.writer.write(s0s1s2[1 : 1 + HANDSHAKE_SIZE])  # C2 echoes S1
        return client

    def send(self, *items: Message | bytes) -> None:
        self.writer.write(b"".join(i if isinstance(i, bytes) else self.out.write(i)
                                   for i in items))

    def command(self, name: str, tid: float, obj: object, *args: object,
                stream_id: int = 0) -> None:
        self.send(Message(20, stream_id, 0, amf0.encode(name, tid, obj, *args),
                          8 if stream_id else 3))

    async def statuses(self, timeout: float = 5.0) -> list[tuple[str, object]]:
        """Commands received until the server goes quiet (or hangs up)."""
        found: list[tuple[str, object]] = []
        try:
            async with asyncio.timeout(timeout):
                while True:
                    data = await self.reader.read(65536)
                    if not data:
                        break
                    self.incoming.feed(data)
                    while (message := self.incoming.next_message()) is not None:
                        if message.type_id == messages.COMMAND_AMF0:
                            cmd = messages.parse_command(message)
                            info = cmd.args[0] if cmd.args else cmd.obj
                            found.append((cmd.name, info))
                    if any(name == "onStatus" for name, _ in found):
                        break
        except TimeoutError:
            pass
        return found

    async def publish(self, name: str) -> list[tuple[str, object]]:
        self.command("connect", 1.0, {"app": "live", "tcUrl": "rtmp://127.0.0.1/live"})
        self.command("createStream", 2.0, None)
        self.command("publish", 3.0, None, name, "live", stream_id=1)
        return await self.statuses()

    async def closed(self, timeout: float = 5.0) -> bool:
        async with asyncio.timeout(timeout):
            while await self.reader.read(65536):
                pass
        return True

    def close(self) -> None:
        self.writer.transport.abort()


def status_code(found: list[tuple[str, object]]) -> str | None:
    for name, info in found:
        if name == "onStatus" and isinstance(info, dict):
            return info.get("code")
    return None


# -- real publisher -----------------------------------------------------------------------------


async def test_ffmpeg_publishes_h264_into_the_stream(rig, push_clip):
    r = await rig()
    seen: list[tuple[str, str]] = []

    async def authorize(token, source_id, action):
        seen.append((token, action))
        return token == "t0k"

    server = await start_server(r, authorize)
    try:
        publishing = asyncio.create_task(run_ffmpeg(*ffmpeg_rtmp(
            push_clip, server.url("cam1") + "?token=t0k")))
        stream = await wait_for(lambda: r.manager.stream("cam1"), 10)
        sub = stream.subscribe("probe", maxsize=500)
        code, err = await publishing
        assert code == 0, err
        assert seen == [("t0k", "publish")]
        assert stream.track.codec == "h264"
        assert (stream.track.width, stream.track.height) == (320, 240)
        assert stream.track.fps == 25.0  # from onMetaData
        # 3 s at 25 fps, every picture an access unit with increasing 90 kHz timestamps
        assert 70 <= server.stats.frames_in <= 80 and server.stats.bad_video == 0
        aus = [sub._queue[i] for i in range(sub.qsize())]  # noqa: SLF001 - inspect delivery
        assert aus[0].keyframe and sum(au.keyframe for au in aus) >= 2
        steps = {b.pts - a.pts for a, b in zip(aus, aus[1:], strict=False)}
        assert steps == {3600}
        # online at the sequence header, streaming at the first keyframe, offline after
        assert r.status.states("cam1") == ["online", "streaming", "offline"]
        assert r.push.session("cam1") is None and r.push.lingering("cam1")
        # after the grace period the kept stream is stopped
        await wait_for(lambda: r.manager.stream("cam1") is None, 5)
        assert r.push.stats.expired == 1
    finally:
        await server.aclose()


async def test_refused_publishers_get_an_error_before_any_media(rig, push_clip):
    r = await rig()

    async def authorize(token, source_id, action):
        if token == "other-device":
            raise AccessDenied("source not found", status=404)
        return token == "good"

    server = await start_server(r, authorize)
    try:
        code, err = await run_ffmpeg(*ffmpeg_rtmp(push_clip, server.url("cam1"), 1))
        assert code != 0
        code, err = await run_ffmpeg(*ffmpeg_rtmp(
            push_clip, server.url("cam1") + "?token=other-device", 1))
        assert code != 0
        assert r.manager.stream("cam1") is None  # refused before the source was touched
        # raw clients see the exact NetStream codes
        cases = [("cam1", "NetStream.Publish.Unauthorized"),
                 ("cam1?token=bad", "NetStream.Publish.Unauthorized"),
                 ("fixed?token=good", "NetStream.Publish.Unauthorized"),  # publish: false
                 ("nope?token=good", "NetStream.Publish.Unauthorized"),  # unknown source
                 ("../etc?token=good", "NetStream.Publish.BadName")]
        for name, expected in cases:
            client = await RawRtmp.connect(server.port)
            assert status_code(await client.publish(name)) == expected, name
            assert await client.closed()
        # publish without connect
        client = await RawRtmp.connect(server.port)
        client.command("publish", 3.0, None, "cam1?token=good", "live", stream_id=1)
        assert status_code(await client.statuses()) == "NetStream.Publish.BadName"
        assert await client.closed()
        # one publisher at a time: a second one is refused with BadName
        first = await RawRtmp.connect(server.port)
        assert status_code(await first.publish("cam2?token=good")) == \
            "NetStream.Publish.Start"
        second = await RawRtmp.connect(server.port)
        assert status_code(await second.publish("cam2?token=good")) == \
            "NetStream.Publish.BadName"
        assert await second.closed()
        assert r.push.stats.busy == 1 and server.stats.refused == 9
        first.close()
        # a wrong application is refused at connect
        client = await RawRtmp.connect(server.port)
        client.command("connect", 1.0, {"app": "vod"})
        found = await client.statuses(2)
        assert found[0][0] == "_error"
        assert found[0][1]["code"] == "NetConnection.Connect.Rejected"
        assert await client.closed()
    finally:
        await server.aclose()


async def test_takeover_and_silence(rig):
    r = await rig(takeover=True, silence_timeout=0.6)
    server = await start_server(r)
    tags = captured_tags()
    try:
        first = await RawRtmp.connect(server.port)
        assert status_code(await first.publish("cam1")) == "NetStream.Publish.Start"
        first.send(*[Message(9, 1, m.timestamp, m.payload, 6) for m in tags[:3]])
        stream = await wait_for(lambda: r.manager.stream("cam1"), 5)
        await wait_for(lambda: stream.stats.aus_in == 2, 5)
        assert (stream.track.width, stream.track.height) == (160, 120)
        second = await RawRtmp.connect(server.port)
        assert status_code(await second.publish("cam1")) == "NetStream.Publish.Start"
        assert await first.closed()  # the first publisher was hung up
        assert r.push.stats.takeovers == 1 and r.manager.stream("cam1") is stream
        # the new publisher sends nothing: evicted after the silence timeout
        started = time.monotonic()
        assert await second.closed()
        assert 0.3 < time.monotonic() - started < 3
        assert r.push.stats.silences == 1
        sid, state, fields = r.status.events[-1]
        assert (state, fields["last_error"]) == ("offline", "no media for 0.6 s")
    finally:
        await server.aclose()


# -- BAD-INPUTS row 18 over the wire ---------------------------------------------------------


async def test_hostile_connections_are_closed_while_a_publisher_keeps_going(rig):
    r = await rig(silence_timeout=10)
    server = await start_server(r, handshake_timeout=1.0, max_message_size=1024 * 1024)
    tags = captured_tags()
    try:
        good = await RawRtmp.connect(server.port)
        assert status_code(await good.publish("cam1")) == "NetStream.Publish.Start"
        good.send(*[Message(9, 1, m.timestamp, m.payload, 6) for m in tags[:2]])
        stream = await wait_for(lambda: r.manager.stream("cam1"), 5)

        hostile: list[tuple[str, bytes | Message]] = [
            ("chunk size 0", struct.pack("!B3s3sBI", 2, b"\0\0\0", b"\0\0\x04", 1, 0)
             + struct.pack("!I", 0)),
            ("chunk size 1", struct.pack("!B3s3sBI", 2, b"\0\0\0", b"\0\0\x04", 1, 0)
             + struct.pack("!I", 1)),
            ("16 MiB message", bytes((6,)) + b"\0\0\0" + b"\xff\xff\xff\x09" + b"\1\0\0\0"),
            ("orphan continuation", bytes((0xC0 | 7,)) + b"x" * 200),
            ("deep AMF0", Message(20, 0, 0, amf0.encode("connect", 1.0)
                                  + b"\x0a\x00\x00\x00\x01" * 400 + b"\x05", 3)),
        ]
        clients = []
        for _name, payload in hostile:
            client = await RawRtmp.connect(server.port)
            client.send(payload)
            clients.append(client)
        for client in clients:
            assert await client.closed()
        # not RTMP at all, and a handshake that never completes (slow loris)
        garbage = await RawRtmp.connect(server.port, handshake=False)
        garbage.writer.write(b"GET / HTTP/1.1\r\n\r\n")
        slow = await RawRtmp.connect(server.port, handshake=False)
        slow.writer.write(b"\x03" + bytes(100))
        assert await garbage.closed() and await slow.closed()
        assert server.stats.protocol_errors == len(hostile) + 1
        assert server.stats.timeouts == 1
        # the honest publisher was never disturbed
        good.send(*[Message(9, 1, m.timestamp, m.payload, 6) for m in tags[2:10]])
        await wait_for(lambda: stream.stats.aus_in == 9, 5)
        assert r.push.session("cam1") is not None and server.stats.connections_active == 1
        good.close()
    finally:
        await server.aclose()
