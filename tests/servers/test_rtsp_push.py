"""RTSP push (ANNOUNCE / SETUP mode=record / RECORD) against a real publisher (ffmpeg) and a
raw client that sends what ffmpeg would not (BAD-INPUTS rows 4, 8, 9, 12).

The RTSP server feeds the real publisher lifecycle and StreamManager; registry and status are
the function-field fakes of :mod:`tests.servers.test_rtmp`.
"""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

from loadtests.camfarm.clips import make_clip
from mediaserver.errors import AccessDenied
from mediaserver.protocols.h264 import H264Packetizer
from mediaserver.protocols.rtmp.flv import VideoTagParser
from mediaserver.protocols.rtsp.message import InterleavedFrame, MessageReader, Response
from mediaserver.servers.rtsp.server import RtspServer
from tests.servers.test_rtmp import (
    PUSH_PROFILE,
    captured_tags,
    push_clip,
    rig,
    run_ffmpeg,
    wait_for,
)

__all__ = ["push_clip", "rig"]  # fixtures shared with test_rtmp

pytestmark = pytest.mark.timeout(60)


def fixture_media() -> tuple[str, list[tuple[tuple[bytes, ...], int]]]:
    """An SDP announcing ffmpeg's captured 160x120 H.264, and its frames with RTP timestamps."""
    parser = VideoTagParser()
    tags = captured_tags()
    header = parser.parse(tags[0].payload)
    sps, pps = header.parameter_sets
    sprop = ",".join(base64.b64encode(x).decode() for x in (sps, pps))
    sdp = ("v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=No Name\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
           "m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
           f"a=fmtp:96 packetization-mode=1; sprop-parameter-sets={sprop}\r\n"
           "a=control:streamid=0\r\n"
           "m=audio 0 RTP/AVP 97\r\na=rtpmap:97 MPEG4-GENERIC/44100/2\r\n"
           "a=control:streamid=1\r\n")
    frames = [(parser.parse(m.payload).nalus, m.timestamp * 90) for m in tags[1:-1]]
    return sdp, frames


class RawRtsp:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.parser = MessageReader()
        self.cseq = 0

    @classmethod
    async def connect(cls, port: int) -> RawRtsp:
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, uri: str, headers: dict[str, str] | None = None,
                      body: str = "") -> Response:
        self.cseq += 1
        lines = [f"{method} {uri} RTSP/1.0", f"CSeq: {self.cseq}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body:
            lines.append(f"Content-Length: {len(body.encode())}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n" + body).encode())
        async with asyncio.timeout(5):
            while True:
                event = self.parser.next_event()
                if isinstance(event, Response):
                    return event
                if event is None:
                    data = await self.reader.read(65536)
                    assert data, f"connection closed during {method}"
                    self.parser.feed(data)

    def frame(self, channel: int, payload: bytes) -> None:
        self.writer.write(InterleavedFrame(channel, payload).serialize())

    async def closed(self, timeout: float = 5.0) -> bool:
        async with asyncio.timeout(timeout):
            while await self.reader.read(65536):
                pass
        return True

    def close(self) -> None:
        self.writer.transport.abort()


async def start_rtsp(r, authorize=None) -> RtspServer:
    server = RtspServer(r.manager, host="127.0.0.1", port=0, authorize=authorize,
                        publishers=r.push)
    await server.start()
    return server


async def test_ffmpeg_pushes_and_a_reader_plays_it_back(rig, push_clip):
    r = await rig()
    seen = []

    async def authorize(request, source_id, action):
        seen.append((source_id, action))
        return "token=ok" in request.uri

    server = await start_rtsp(r, authorize)
    try:
        # default transport: ffmpeg tries UDP, gets 461, retries over TCP
        publishing = asyncio.create_task(run_ffmpeg(
            "-re", "-i", str(push_clip), "-t", "3.5", "-c", "copy", "-f", "rtsp",
            server.url("cam1") + "?token=ok"))
        stream = await wait_for(lambda: r.manager.stream("cam1"), 10)
        await wait_for(lambda: stream.gop(), 10)
        proc = await asyncio.create_subprocess_exec(
            "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-of", "json",
            server.url("cam1") + "?token=ok", stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, err.decode()
        probed = json.loads(out)["streams"][0]
        assert (probed["codec_name"], probed["width"], probed["height"]) == ("h264", 320, 240)
        code, err = await publishing
        assert code == 0, err
        assert ("cam1", "publish") in seen and ("cam1", "read") in seen
        assert 80 <= server.stats.frames_in <= 90 and server.stats.publish_frames_dropped == 0
        assert server.stats.errors[461] == 1
        assert stream.stats.keyframes_in >= 3
        assert r.status.states("cam1") == ["online", "streaming", "offline"]
        assert r.push.stats.claims == 1 and r.push.lingering("cam1")
    finally:
        await server.aclose()


async def test_publisher_state_machine_and_refusals(rig):
    r = await rig(silence_timeout=10)

    async def authorize(request, source_id, action):
        if "token=device-cam2" in request.uri and source_id != "cam2":
            raise AccessDenied("source not found", status=404)
        if "token=viewer" in request.uri and action == "publish":
            raise AccessDenied("role viewer may not publish", status=403)
        return "token=" in request.uri

    server = await start_rtsp(r, authorize)
    base = f"rtsp://127.0.0.1:{server.port}"
    sdp, frames = fixture_media()
    sdp_type = {"Content-Type": "application/sdp"}
    try:
        c = await RawRtsp.connect(server.port)
        options = await c.request("OPTIONS", f"{base}/cam1")
        assert "ANNOUNCE" in options.headers["Public"] and "RECORD" in options.headers["Public"]
        # authorization and source checks, all before any session exists
        assert (await c.request("ANNOUNCE", f"{base}/cam1", sdp_type, sdp)).status == 401
        for uri, status in [(f"{base}/cam1?token=device-cam2", 404),
                            (f"{base}/cam1?token=viewer", 403),
                            (f"{base}/fixed?token=admin", 403),  # publish: false
                            (f"{base}/nope?token=admin", 404)]:
            assert (await c.request("ANNOUNCE", uri, sdp_type, sdp)).status == status, uri
        url = f"{base}/cam1?token=admin"
        assert (await c.request("ANNOUNCE", url, {"Content-Type": "text/plain"}, "hi")).status \
            == 415
        audio_only = sdp.split("m=video")[0] + "m=audio" + sdp.split("m=audio")[1]
        assert (await c.request("ANNOUNCE", url, sdp_type, audio_only)).status == 415
        bad_sdp = "v=0\r\nm=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/0\r\n"
        assert (await c.request("ANNOUNCE", url, sdp_type, bad_sdp)).status == 400
        assert r.manager.stream("cam1") is None
        # RECORD and PAUSE before anything is set up
        assert (await c.request("RECORD", url)).status == 455
        ok = await c.request("ANNOUNCE", url, sdp_type, sdp)
        assert ok.status == 200
        assert (await c.request("ANNOUNCE", url, sdp_type, sdp)).status == 455
        # a second publisher on another connection: 409 Conflict
        other = await RawRtsp.connect(server.port)
        busy = await other.request("ANNOUNCE", url, sdp_type, sdp)
        assert (busy.status, busy.reason) == (409, "Conflict")
        other.close()
        # SETUP: UDP refused (461), TCP with mode=record accepted, the same track twice 455
        udp = await c.request("SETUP", f"{url}/streamid=0",
                              {"Transport": "RTP/AVP/UDP;unicast;client_port=5000-5001;"
                                            "mode=record"})
        assert udp.status == 461
        video = await c.request("SETUP", f"{url}/streamid=0",
                                {"Transport": "RTP/AVP/TCP;unicast;interleaved=0-1;"
                                              "mode=record"})
        assert video.status == 200 and "interleaved=0-1" in video.headers["Transport"]
        session = {"Session": video.headers["Session"].split(";")[0]}
        again = await c.request("SETUP", f"{url}/streamid=0", {
            **session, "Transport": "RTP/AVP/TCP;unicast;interleaved=2-3;mode=record"})
        assert again.status == 455
        clash = await c.request("SETUP", f"{url}/streamid=1", {
            **session, "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"})
        assert clash.status == 461
        audio = await c.request("SETUP", f"{url}/streamid=1", {
            **session, "Transport": "RTP/AVP/TCP;unicast;interleaved=2-3;mode=record"})
        assert audio.status == 200
        assert (await c.request("SETUP", f"{url}/streamid=7", {
            **session, "Transport": "RTP/AVP/TCP;unicast;interleaved=4-5;mode=record"})
                ).status == 404
        # media before RECORD is dropped and counted
        packetizer = H264Packetizer(96, 1234)
        ignored = server.stats.frames_ignored
        for packet in packetizer.packetize(frames[0][0], frames[0][1]):
            c.frame(0, packet.serialize())
        assert (await c.request("PLAY", url, session)).status == 455
        assert server.stats.frames_ignored > ignored
        record = await c.request("RECORD", url, {**session, "Range": "npt=0.000-"})
        assert record.status == 200
        # BAD-INPUTS row 4: PAUSE and PLAY during RECORD, SETUP after RECORD
        assert (await c.request("PAUSE", url, session)).status == 455
        assert (await c.request("PLAY", url, session)).status == 455
        assert (await c.request("RECORD", url, session)).status == 455
        for nalus, timestamp in frames[:10]:
            for packet in packetizer.packetize(nalus, timestamp):
                c.frame(0, packet.serialize())
            c.frame(2, b"\x80\x61" + b"\x00" * 20)  # audio: counted, dropped
        c.frame(9, b"\x80\x60\x00\x01")  # a channel never set up (row 9)
        stream = r.manager.stream("cam1")
        await wait_for(lambda: stream.stats.aus_in == 10, 5)
        assert (stream.track.width, stream.track.height) == (160, 120)
        assert r.status.states("cam1") == ["online", "streaming"]
        teardown = await c.request("TEARDOWN", url, session)
        assert teardown.status == 200
        assert r.status.states("cam1")[-1] == "offline"
        assert r.status.events[-1][2]["last_error"] == ""  # a clean stop
        # SETUP after TEARDOWN names a session that is gone
        assert (await c.request("SETUP", f"{url}/streamid=0", {
            **session, "Transport": "RTP/AVP/TCP;interleaved=0-1;mode=record"})).status == 454
        c.close()
    finally:
        await server.aclose()


async def test_dropped_connection_and_reconnect_within_grace(rig):
    r = await rig(grace_period=5.0, silence_timeout=10)
    server = await start_rtsp(r)
    url = f"rtsp://127.0.0.1:{server.port}/cam1"
    sdp, frames = fixture_media()
    try:
        streams = []
        for attempt in range(2):
            c = await RawRtsp.connect(server.port)
            assert (await c.request("ANNOUNCE", url, {"Content-Type": "application/sdp"},
                                    sdp)).status == 200
            setup = await c.request("SETUP", f"{url}/streamid=0", {
                "Transport": "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record"})
            session = {"Session": setup.headers["Session"].split(";")[0]}
            assert (await c.request("RECORD", url, session)).status == 200
            stream = r.manager.stream("cam1")
            if attempt == 0:
                viewer = stream.subscribe("viewer", maxsize=200)
                got = []
                reading = asyncio.create_task(_drain(viewer, got))
            packetizer = H264Packetizer(96, 99 + attempt)
            for nalus, timestamp in frames[:5]:
                for packet in packetizer.packetize(nalus, timestamp):
                    c.frame(0, packet.serialize())
            await wait_for(lambda s=stream, n=attempt: s.stats.aus_in == 5 * (n + 1), 5)
            streams.append(stream)
            c.close()  # the 4G link drops: no TEARDOWN
            await wait_for(lambda: r.push.session("cam1") is None, 5)
        # the same stream, the same subscriber, one continuous increasing clock
        assert streams[0] is streams[1] and r.push.stats.resumed == 1
        await wait_for(lambda: len(got) == 10, 5)
        assert not viewer.closed and viewer.dropped == 0
        reading.cancel()
        assert all(b.pts > a.pts for a, b in zip(got, got[1:], strict=False))
        assert r.status.events[-1][1] == "offline"
        assert r.status.events[-1][2]["last_error"] == "connection closed"
    finally:
        await server.aclose()


async def _drain(sub, into: list) -> None:
    while True:
        into.append(await sub.recv())


async def test_ffmpeg_pushes_h265(rig, tmp_path_factory):
    """H.265 body-cams: the RFC 7798 depacketizer feeds the stream (viewers need the
    transcoder of part 2; RTSP readers get it as is)."""
    clip = await asyncio.to_thread(make_clip, tmp_path_factory.mktemp("hevc") / "h265.mp4",
                                   name="push-hevc", profile=PUSH_PROFILE, seconds=2,
                                   codec="h265")
    r = await rig()
    server = await start_rtsp(r)
    try:
        publishing = asyncio.create_task(run_ffmpeg(
            "-re", "-i", str(clip), "-c", "copy", "-rtsp_transport", "tcp", "-f", "rtsp",
            server.url("cam1")))
        stream = await wait_for(lambda: r.manager.stream("cam1"), 10)
        code, err = await publishing
        assert code == 0, err
        assert (stream.track.codec, stream.track.width, stream.track.height) == \
            ("h265", 320, 240)
        assert len(stream.track.parameter_sets) == 3  # VPS, SPS, PPS from sprop-*
        assert 45 <= server.stats.frames_in <= 50 and stream.stats.keyframes_in >= 2
        assert r.status.events[1][2]["codec"] == "h265"
    finally:
        await server.aclose()
