"""The camera farm, read by the real ffprobe over loopback, and its network-trouble hooks."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time

import pytest
import yaml

from loadtests.camfarm.__main__ import make_cameras, sources_config
from loadtests.camfarm.farm import CameraFarm, CameraSpec
from mediaserver.config.sources import SourceConfig
from mediaserver.protocols.rtp import RtpPacket
from mediaserver.protocols.rtsp.message import InterleavedFrame, MessageReader, Response

pytestmark = pytest.mark.timeout(60)

CAMERAS = [CameraSpec(f"cam{i}", f"Camera {i}", "sub360", f"city/district-1/station-{i}")
           for i in (1, 2, 3)]


async def probe(url: str) -> dict:
    proc = await asyncio.create_subprocess_exec(
        "ffprobe", "-v", "error", "-rtsp_transport", "tcp", "-show_streams", "-show_format",
        "-of", "json", url, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    async with asyncio.timeout(20):
        out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_three_cameras_share_one_clip_and_reuse_it(tmp_path):
    farm = CameraFarm(CAMERAS, port=0, clip_dir=tmp_path, clip_seconds=2)
    await farm.start()
    try:
        assert await farm.wait_ready(5)
        assert len(set(farm.clips.values())) == 1  # one profile: one clip for all cameras
        urls = farm.urls()
        assert urls == [f"rtsp://127.0.0.1:{farm.port}/cam{i}" for i in (1, 2, 3)]
        results = await asyncio.gather(*(probe(url) for url in urls))
        for camera, result in zip(CAMERAS, results, strict=True):
            (video,) = result["streams"]
            assert (video["codec_name"], video["width"], video["height"]) == ("h264", 640, 360)
            assert result["format"]["tags"]["title"] == camera.id  # served under its own id
        assert farm.server.stats.sessions_total == 3
    finally:
        await farm.aclose()
    clip = next(iter(farm.clips.values()))
    encoded_at = clip.stat().st_mtime_ns

    again = CameraFarm(CAMERAS, port=0, clip_dir=tmp_path, clip_seconds=2)
    started = time.monotonic()
    await again.start()
    try:
        assert time.monotonic() - started < 1.0  # nothing encoded this time
        assert clip.stat().st_mtime_ns == encoded_at
        assert await again.wait_ready(5)
        (video,) = (await probe(again.url("cam2")))["streams"]
        assert video["width"] == 640
    finally:
        await again.aclose()
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith(("camfarm", "rtsp"))]


async def test_distinct_cameras_get_their_own_clips(tmp_path):
    farm = CameraFarm(CAMERAS[:2], port=0, clip_dir=tmp_path, clip_seconds=1, distinct=True)
    await farm.start()
    try:
        assert len(set(farm.clips.values())) == 2
        assert sorted(p.name for p in tmp_path.glob("*.mp4")) == ["cam1-sub360.mp4",
                                                                  "cam2-sub360.mp4"]
    finally:
        await farm.aclose()


async def read_rtp(port: int, path: str, seconds: float) -> tuple[list[RtpPacket], bool]:
    """PLAY over TCP and collect RTP for ``seconds``; True if the farm hung up first."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    parser = MessageReader()
    url = f"rtsp://127.0.0.1:{port}/{path}"
    packets: list[RtpPacket] = []

    async def next_event():
        while (event := parser.next_event()) is None:
            data = await reader.read(65536)
            if not data:
                return None
            parser.feed(data)
        return event

    async def request(cseq: int, method: str, uri: str, extra: str = "") -> Response:
        writer.write(f"{method} {uri} RTSP/1.0\r\nCSeq: {cseq}\r\n{extra}\r\n".encode())
        while not isinstance(event := await next_event(), Response):
            assert event is not None
        return event

    setup = await request(1, "SETUP", url + "/trackID=0",
                          "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
    session = setup.headers["Session"].split(";")[0]
    assert (await request(2, "PLAY", url, f"Session: {session}\r\n")).status == 200
    hung_up = False
    try:
        async with asyncio.timeout(seconds):
            while True:
                event = await next_event()
                if event is None:
                    hung_up = True
                    break
                if isinstance(event, InterleavedFrame) and event.channel == 0:
                    packets.append(RtpPacket.parse(event.payload))
    except TimeoutError:
        pass
    writer.close()
    await writer.wait_closed()
    return packets, hung_up


async def test_loss_jitter_and_disconnect_hooks(tmp_path):
    farm = CameraFarm(CAMERAS[:1], port=0, clip_dir=tmp_path, clip_seconds=1, loss=0.3,
                      jitter_ms=30, disconnect_every=1.5, seed=4)
    await farm.start()
    try:
        assert await farm.wait_ready(5)
        started = time.monotonic()
        packets, hung_up = await read_rtp(farm.port, "cam1", 5)
        assert hung_up and 1.2 < time.monotonic() - started < 3  # disconnect_every
        seqs = [p.sequence_number for p in packets]
        sent = (seqs[-1] - seqs[0]) % 65536 + 1
        assert 0.55 < len(packets) / sent < 0.85  # about 30 % lost, seq gaps visible
        assert farm.loss.dropped == farm.server.stats.packets_filtered > 0
        stamps = [p.timestamp for p in packets if p.marker]
        steps = [(b - a) % 2**32 for a, b in zip(stamps, stamps[1:], strict=False)]
        assert steps and all(0 < step < 2**31 for step in steps)  # jittered, order kept
    finally:
        await farm.aclose()


def test_print_config_is_valid_hub_configuration():
    out = subprocess.run(
        [sys.executable, "-m", "loadtests.camfarm", "--count", "18", "--port", "8555",
         "--prefix", "cam", "--print-config"],
        capture_output=True, text=True, timeout=30, check=True,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
    ).stdout
    sources = [SourceConfig(**entry) for entry in yaml.safe_load(out)["sources"]]
    assert [s.id for s in sources][:2] == ["cam001", "cam002"] and len(sources) == 18
    assert sources[0].url == "rtsp://127.0.0.1:8555/cam001"
    assert sources[-1].group == "city/district-2/station-5"
    assert len({s.id for s in sources}) == 18
    assert sources_config(make_cameras(1, "x", "sub360"), "0.0.0.0", 1).count("127.0.0.1") == 1
