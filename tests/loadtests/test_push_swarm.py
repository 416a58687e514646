"""Push swarm: ffmpeg command lines, session accounting, and a real ffmpeg publisher refused
by a real RTSP server (the camera farm's, which serves but does not accept ANNOUNCE); WHIP
publishers (aiortc peers sending a pre-encoded clip) against a real hub process: refusals by
status, and the push-churn scenario with ``--protocols whip`` end to end."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
import time

import pytest
from aiortc.codecs.h264 import H264Encoder
from aiortc.mediastreams import MediaStreamError

from loadtests.camfarm.clips import make_clip
from loadtests.camfarm.farm import CameraFarm, CameraSpec
from loadtests.cli import build_parser, resolve
from loadtests.clip_track import ClipFrames, ClipTrack
from loadtests.hubapi import import_sources
from loadtests.hubproc import started_hub
from loadtests.push_stats import PublisherStats, classify, record, resolve_online, summarize
from loadtests.push_swarm import PushPublisher, PushSwarm, publish_url, publisher_command, scrub
from loadtests.report import CAPACITY_FIELDS, REPORT_FIELDS, build_report, render_markdown
from loadtests.status_watch import StatusWatcher
from loadtests.whip_publisher import WhipPublisher

pytestmark = pytest.mark.timeout(120)


def test_publish_urls():
    assert publish_url("rtsp", "127.0.0.1", 8554, "bodycam001", "T") == \
        "rtsp://127.0.0.1:8554/bodycam001?token=T"
    assert publish_url("rtmp", "127.0.0.1", 1935, "bodycam001", None) == \
        "rtmp://127.0.0.1:1935/live/bodycam001"
    assert publish_url("whip", "127.0.0.1", 8080, "bodycam001", "T") == \
        "http://127.0.0.1:8080/whip/bodycam001"  # the token goes in a header
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
    assert stats.refused_by_status == {"405": 1}
    assert [r["outcome"] for r in stats.records][:2] == ["refused", "completed"]
    assert stats.records[2]["status"] == "exit 1" and stats.records[2]["outcome"] == "failed"
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


# -- session records, summaries, status events (pure) -------------------------------------

def test_classify_finds_the_status_or_a_reason():
    assert classify("method ANNOUNCE failed: 409 Conflict") == "409"
    assert classify("Connection refused", 1) == "connection refused"
    assert classify("rtmp://127.0.0.1:45123/live/a: I/O error", 1) == "exit 1"


def _watcher(changes):
    watcher = StatusWatcher("ws://127.0.0.1:9/api/v1/events", None)
    watcher.observe("not json")
    watcher.observe(json.dumps({"v": 1, "type": "snapshot", "states": {"a": "online"}}))
    watcher.observe(json.dumps({"v": 1, "type": "status", "changes": changes + [
        {"source_id": "a", "state": "online"}]}))  # no stamp: ignored
    return watcher


def test_time_to_online_comes_from_the_hubs_stamps():
    watcher = _watcher([{"source_id": "a", "state": "online", "since": 100.25},
                        {"source_id": "a", "state": "streaming", "since": 100.5},
                        {"source_id": "a", "state": "offline", "since": 104.0},
                        {"source_id": "a", "state": "streaming", "since": 105.4}])
    assert watcher.first_live("a", 100.0) == 100.25
    assert watcher.first_live("a", 100.0, "streaming") == 100.5
    assert watcher.first_live("a", 105.0) == 105.4  # coalesced: only "streaming" was seen
    assert watcher.first_live("b", 0) is None
    stats = PublisherStats("a", "whip")
    first = record("whip", "a", 100.0, 104.0, 4.0, "completed", connect_ms=80.0)
    second = record("whip", "a", 105.0, 105.2, 4.0, "refused", status="409", error="busy")
    third = record("whip", "a", 106.0, 109.0, 3.0, "failed", status="connection failed")
    for rec in (first, second, third):
        stats.sessions += 1
        stats.add(rec)
    assert resolve_online(stats.records, watcher) == 1
    assert (first["online_ms"], first["streaming_ms"]) == (250.0, 500.0)
    assert second["online_ms"] is None  # refused: never looked up
    assert third["online_ms"] is None  # the 105.4 stamp is before this session started
    summary = summarize([stats, PublisherStats("b", "rtsp")])
    whip = summary["whip"]
    assert (whip["sessions"], whip["completed"], whip["refused"], whip["failed"]) == (3, 1, 1, 1)
    assert whip["refused_by_status"] == {"409": 1}
    assert whip["connect_ms_p50"] == 80.0 and whip["online_ms_p95"] == 250.0
    assert whip["online_seen"] == 1 and whip["seconds_published"] == 7.0
    assert summary["rtsp"]["sessions"] == 0 and summary["rtsp"]["online_ms_p50"] is None


def test_per_protocol_table_in_the_report():
    table = {"rtsp": {"sessions": 3, "refused_by_status": {}},
             "whip": {"sessions": 4, "refused_by_status": {"409": 1}}}
    report = build_report(scenario="push-churn", status="ok", hub={}, machine={},
                          parameters={}, limits={}, started_at=time.time(), steps=[],
                          capacity={"streams_held": 2, "viewers_held": None,
                                    "cpu_us_per_packet": None, "memory_per_stream_bytes": None,
                                    "limited_by": "x", "push_by_protocol": table})
    md = render_markdown(report)
    assert "### push by protocol" in md and "| | rtsp | whip |" in md
    assert "| sessions | 3 | 4 |" in md and "| refused_by_status | none | 409 1 |" in md


def test_protocols_knob_is_checked():
    parser = build_parser()
    args = resolve(parser.parse_args(["run", "--scenario", "push-churn", "--out", "x",
                                      "--protocols", "WHIP, rtsp,whip"]), parser)
    assert args.protocols == "whip,rtsp"
    assert resolve(parser.parse_args(["run", "--scenario", "push-churn", "--out", "x"]),
                   parser).protocols == "rtsp,rtmp,whip"
    with pytest.raises(SystemExit):
        resolve(parser.parse_args(["run", "--scenario", "push-churn", "--out", "x",
                                   "--protocols", "srt"]), parser)


# -- the pre-encoded clip as an aiortc track ----------------------------------------------

@pytest.fixture(scope="module")
def short_clip(tmp_path_factory):
    # 0.4 s = 10 pictures at 25 fps: one keyframe, so a loop is quick to reach
    path = tmp_path_factory.mktemp("whipclips") / "bodycam.mp4"
    return make_clip(path, name="Bodycam", profile="sub360", seconds=0.4, seed=3)


async def test_clip_track_sends_packets_aiortc_packs_without_encoding(short_clip):
    frames = await asyncio.to_thread(ClipFrames.load, short_clip)
    assert len(frames.frames) == 10 and frames.frames[0][2] and frames.period == 36_000
    assert (frames.width, frames.height) == (640, 360)
    track = ClipTrack(frames)
    loop = asyncio.get_running_loop()
    started = loop.time()
    packets = [await track.recv() for _ in range(13)]
    took = loop.time() - started
    assert 0.4 <= took < 1.5  # paced by pts: 12 intervals of 40 ms
    assert [p.pts for p in packets] == [i * 3600 for i in range(13)]  # continues across loops
    assert packets[0].is_keyframe and packets[10].is_keyframe and not packets[1].is_keyframe
    nal_types = {b & 0x1F for b in _nal_headers(bytes(packets[0]))}
    assert {5, 7, 8} <= nal_types  # IDR with its SPS and PPS
    assert track.frames_sent == 13 and track.keyframes_sent == 2
    payloads, timestamp = H264Encoder().pack(packets[3])  # aiortc's passthrough path
    assert timestamp == 3 * 3600 and payloads and all(len(p) <= 1300 for p in payloads)
    track.stop()
    with pytest.raises(MediaStreamError):
        await track.recv()


def _nal_headers(annexb: bytes):
    pos = annexb.find(b"\x00\x00\x01")
    while pos != -1:
        yield annexb[pos + 3]
        pos = annexb.find(b"\x00\x00\x01", pos + 3)


# -- WHIP against a real hub process --------------------------------------------------------

async def test_whip_refusals_are_counted_by_status(tmp_path, short_clip):
    frames = await asyncio.to_thread(ClipFrames.load, short_clip)
    results: dict[str, PublisherStats] = {}
    async with started_hub(tmp_path) as hub:
        await import_sources(hub, [{"id": i, "kind": "bodycam", "group": "loadtest/field",
                                    "publish": True} for i in ("bodycam001", "bodycam002")])
        url = publish_url("whip", "127.0.0.1", int(hub.url.rsplit(":", 1)[1]), "bodycam001",
                          None)
        tokens = {"no token": None, "viewer": hub.token("viewer"),
                  "other device": hub.token("device", (), "bodycam002")}
        for name, token in tokens.items():
            publisher = WhipPublisher("bodycam001", url, token, frames, min_s=1, max_s=1,
                                      rng=random.Random(0))
            await publisher.session(1.0)
            results[name] = publisher.stats
    assert results["no token"].refused_by_status == {"401": 1}
    assert results["viewer"].refused_by_status == {"403": 1}
    # a device token publishes only its own source (another's: 403, or 404 hiding it)
    assert set(results["other device"].refused_by_status) <= {"403", "404"}
    for name, stats in results.items():
        assert (stats.sessions, stats.refused, stats.completed) == (1, 1, 0)
        assert stats.records[0]["connect_ms"] is None and stats.last_error
        assert tokens[name] is None or tokens[name] not in stats.last_error


def test_push_churn_scenario_with_whip_publishers(tmp_path):
    out = tmp_path / "push"
    proc = subprocess.run([sys.executable, "-m", "loadtests", "run", "--scenario", "push-churn",
                           "--out", str(out), "--protocols", "whip", "--publishers", "2",
                           "--hold", "2.5", "--churn-min", "3", "--churn-max", "4",
                           "--time-limit", "90", "--clip-dir", str(tmp_path / "clips")],
                          capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert set(REPORT_FIELDS) <= set(report) and report["status"] == "ok"
    cap = report["capacity"]
    assert set(CAPACITY_FIELDS) <= set(cap) and cap["protocols"] == ["whip"]
    whip = cap["push_by_protocol"]["whip"]
    for key in ("publishers", "sessions", "completed", "refused", "failed",
                "refused_by_status", "connect_ms_p50", "connect_ms_p95", "online_seen",
                "online_ms_p50", "online_ms_p95", "online_ms_max", "streaming_ms_p50"):
        assert key in whip, key
    assert whip["publishers"] == 2 and whip["sessions"] >= 2
    assert whip["completed"] >= 2 and whip["refused"] == 0, report["notes"]
    assert whip["online_seen"] >= 2 and 0 < whip["online_ms_p50"] < 10_000
    assert 0 < whip["connect_ms_p50"] < 10_000
    assert cap["streams_held"] >= 1 and max(s["whip_sessions"] for s in report["steps"]) >= 1
    assert "whip push: ok" in report["notes"]
    assert any("none encoded" in n for n in report["notes"])
    assert "push-churn-online.png" in report["plots"]
    for name in report["plots"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "### push by protocol" in (out / "report.md").read_text()
