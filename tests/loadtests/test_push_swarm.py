"""Push swarm: ffmpeg command lines, session accounting, and a real ffmpeg publisher refused
by a real RTSP server (the camera farm's, which serves but does not accept ANNOUNCE)."""

from __future__ import annotations

import asyncio
import random

import pytest

from loadtests.camfarm.farm import CameraFarm, CameraSpec
from loadtests.push_swarm import PushPublisher, PushSwarm, publish_url, publisher_command, scrub

pytestmark = pytest.mark.timeout(60)


def test_publish_urls():
    assert publish_url("rtsp", "127.0.0.1", 8554, "bodycam001", "T") == \
        "rtsp://127.0.0.1:8554/bodycam001?token=T"
    assert publish_url("rtmp", "127.0.0.1", 1935, "bodycam001", None) == \
        "rtmp://127.0.0.1:1935/live/bodycam001"
    with pytest.raises(ValueError, match="protocol"):
        publish_url("srt", "h", 1, "x", None)


def test_publisher_command_lines(tmp_path):
    clip = tmp_path / "clip.mp4"
    common = ["ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
              "-stream_loop", "-1", "-i", str(clip), "-map", "0:v:0", "-c", "copy",
              "-t", "7.5"]
    assert publisher_command("rtsp", clip, "rtsp://h:1/a", 7.5) == \
        [*common, "-f", "rtsp", "-rtsp_transport", "tcp", "rtsp://h:1/a"]
    assert publisher_command("rtmp", clip, "rtmp://h:1/live/a", 7.5) == \
        [*common, "-f", "flv", "rtmp://h:1/live/a"]
    with pytest.raises(ValueError, match="seconds"):
        publisher_command("rtsp", clip, "rtsp://h:1/a", 0)
    with pytest.raises(ValueError, match="protocol"):
        publisher_command("whip", clip, "http://h/whip/a", 5)


class FakeProcess:
    """What the publisher needs of asyncio's Process, ending as told after ``seconds``."""

    def __init__(self, returncode: int, seconds: float, err: bytes) -> None:
        self._code, self._seconds, self._err = returncode, seconds, err
        self.returncode: int | None = None

    async def communicate(self):
        await asyncio.sleep(self._seconds)
        self.returncode = self._code
        return b"", self._err

    def kill(self) -> None:
        self.returncode = -9

    async def wait(self) -> int:
        return self.returncode


async def test_sessions_churn_until_the_deadline_and_are_counted(tmp_path):
    commands = []
    outcomes = iter([(1, 0.01, b"405 Method Not Allowed"), (0, 0.3, b""), (1, 2.1, b"reset")]
                    + [(0, 0.3, b"")] * 50)

    async def spawn(*cmd, **_):
        commands.append(cmd)
        return FakeProcess(*next(outcomes))

    publisher = PushPublisher("bodycam001", "rtsp", "rtsp://h:1/bodycam001", tmp_path / "c.mp4",
                              min_s=1, max_s=2, rng=random.Random(1), spawn=spawn)
    loop = asyncio.get_running_loop()
    started = loop.time()
    (stats,) = await PushSwarm([publisher]).run(7.0)
    assert loop.time() - started < 8.0  # no session starts past the deadline
    assert stats.refused == 1 and stats.failed == 1 and stats.completed >= 1
    assert stats.sessions == len(commands) == stats.refused + stats.failed + stats.completed
    assert "405" in stats.errors[0]
    assert all(cmd[0] == "ffmpeg" and cmd[-1] == "rtsp://h:1/bodycam001" for cmd in commands)


async def test_real_ffmpeg_refused_by_a_server_without_push(tmp_path):
    farm = CameraFarm([CameraSpec("cam1", "Camera 1", "sub360")], port=0,
                      clip_dir=tmp_path, clip_seconds=2)
    await farm.start()
    try:
        clip = farm.clips["cam1"]
        publisher = PushPublisher("bodycam001", "rtsp", publish_url(
            "rtsp", "127.0.0.1", farm.port, "bodycam001", "secret-token"), clip,
            min_s=3, max_s=3, rng=random.Random(0))
        await publisher.session(3.0)
    finally:
        await farm.aclose()
    stats = publisher.stats
    assert (stats.sessions, stats.refused, stats.completed) == (1, 1, 0)
    assert "ANNOUNCE" in stats.last_error and "405" in stats.last_error
    assert "secret-token" not in stats.last_error


def test_tokens_are_scrubbed_from_errors():
    assert scrub("rtmp://h/live/a?token=abc.def: I/O error") == \
        "rtmp://h/live/a?token=***: I/O error"
