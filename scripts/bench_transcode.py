#!/usr/bin/env python3
"""Measure transcoder CPU per profile, hub CPU per WHIP-pushed stream and publish→online time.

    nice -n 19 .venv/bin/python scripts/bench_transcode.py [--seconds 4] [--publishers 3]
        [--whip-seconds 10] [--skip-whip] [--skip-transcode]

1. Transcode: real H.264 / H.265 access units (libx264 / libx265, a moving pattern) run through
   :class:`~mediaserver.transcode.codec.TranscodePipeline` for each configured profile; prints
   the codec thread's CPU time per second of video (= share of one core at real time).
2. WHIP: a whole hub (embedded Valkey, WHIP + WHEP) in this process; ``--publishers`` aiortc
   WHIP publishers (640x360, 15 fps, H.264) in a child process; prints the hub process's CPU
   per pushed stream over ``--whip-seconds`` (publisher encode CPU is in the child, not
   counted) and the time from each POST to the source's ``online`` status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from mediaserver.config.transcode import TranscodeConfig  # noqa: E402
from mediaserver.core.access_unit import AccessUnit  # noqa: E402
from mediaserver.protocols.nal import split_annexb  # noqa: E402
from mediaserver.transcode.codec import TranscodePipeline  # noqa: E402

SOURCES = (("h264", 1280, 720), ("h265", 1920, 1080))
FPS = 25


def source_units(codec: str, width: int, height: int, seconds: float) -> list[AccessUnit]:
    enc = av.CodecContext.create("libx264" if codec == "h264" else "libx265", "w")
    enc.width, enc.height, enc.pix_fmt = width, height, "yuv420p"
    enc.time_base, enc.framerate = Fraction(1, 90_000), Fraction(FPS)
    enc.bit_rate = 3_000_000
    enc.options = ({"preset": "ultrafast", "tune": "zerolatency", "g": "50"} if codec == "h264"
                   else {"preset": "ultrafast",
                         "x265-params": "keyint=50:bframes=0:log-level=0"})
    base = np.tile(np.arange(width, dtype=np.uint16) % 256, (height, 1)).astype(np.uint8)
    out = []
    frames = int(seconds * FPS)
    for i in range(frames):
        y = np.roll(base, i * 8, axis=1)
        yuv = np.concatenate([y, np.full((height // 2, width), 128, np.uint8)])
        frame = av.VideoFrame.from_ndarray(yuv, format="nv12").reformat(format="yuv420p")
        frame.pts, frame.time_base = i * 90_000 // FPS, enc.time_base
        for p in enc.encode(frame):
            out.append(AccessUnit(split_annexb(bytes(p)), p.pts, p.is_keyframe, codec))
    for p in enc.encode(None):
        out.append(AccessUnit(split_annexb(bytes(p)), p.pts, p.is_keyframe, codec))
    return out


def bench_transcode(seconds: float) -> list[dict[str, object]]:
    config = TranscodeConfig()
    rows = []
    for codec, width, height in SOURCES:
        units = source_units(codec, width, height, seconds)
        for name, profile in config.profiles.items():
            pipeline = TranscodePipeline(codec, profile, "bench", threads=config.threads)
            wall = time.monotonic()
            produced = sum(len(pipeline.process(au)) for au in units)
            wall = time.monotonic() - wall
            rows.append({"source": f"{codec} {width}x{height}@{FPS}", "profile": name,
                         "out": f"{pipeline.encoder.width}x{pipeline.encoder.height}"
                                f"@{profile.fps or FPS:g}",
                         "frames_out": produced,
                         "core_pct_realtime": round(100 * pipeline.stats.cpu_seconds / seconds,
                                                    1),
                         "ms_per_source_frame": round(1000 * pipeline.stats.cpu_seconds
                                                      / len(units), 2),
                         "wall_s": round(wall, 2)})
    return rows


PUBLISHER_CHILD = """
import asyncio, sys, time
sys.path.insert(0, sys.argv[1])
from signalling.clients.whip import WhipClient, PatternTrack
async def main(base, token, count, seconds):
    clients = [WhipClient(f"{base}/whip/push{i}", token=token, host_addresses=("127.0.0.1",),
                          track=PatternTrack(640, 360, 15)) for i in range(count)]
    print("POST", time.time(), flush=True)
    await asyncio.gather(*(c.start() for c in clients))
    print("STARTED", flush=True)
    await asyncio.sleep(seconds)
    await asyncio.gather(*(c.close() for c in clients))
asyncio.run(main(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
"""


async def bench_whip(publishers: int, seconds: float) -> dict[str, object]:
    from aiohttp import web

    from mediaserver.config import load_settings
    from mediaserver.core.push import PushPublishers
    from mediaserver.hub.app import Hub
    from signalling.whip import WhipEndpoint

    data = Path(tempfile.mkdtemp(prefix="fh-bench-"))
    settings = load_settings(None, data_dir=data, http={"host": "127.0.0.1", "port": 0},
                             rtsp={"enabled": False}, probe={"enabled": False},
                             auth={"mode": "jwt", "secret": os.urandom(24).hex()},
                             webrtc={"host_addresses": ["127.0.0.1"]},
                             sources=[{"id": f"push{i}", "publish": True}
                                      for i in range(publishers)])
    hub = Hub(settings)
    await hub.start()
    pushers = PushPublishers(hub.manager, hub.status, hub.registry)
    await pushers.start()
    whip = WhipEndpoint(pushers, hub.access.source_for, settings.webrtc)
    app = web.Application()
    whip.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # noqa: SLF001
    token = hub.access.issue("admin", ["*"], ttl=600)
    idle_cpu, idle_wall = time.process_time(), time.monotonic()
    await asyncio.sleep(3.0)  # the idle hub's own CPU (status writer, timers) as a baseline
    idle = (time.process_time() - idle_cpu) / (time.monotonic() - idle_wall)
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", PUBLISHER_CHILD, str(ROOT), base, token, str(publishers),
        str(seconds + 5), stdout=subprocess.PIPE)
    online: dict[str, float] = {}
    try:
        line = (await child.stdout.readline()).split()
        posted = time.monotonic() - (time.time() - float(line[1]))
        async with asyncio.timeout(30):
            while len(online) < publishers:
                for i in range(publishers):
                    sid = f"push{i}"
                    if sid not in online and hub.status.state_of(sid) in ("online", "streaming"):
                        online[sid] = time.monotonic() - posted
                await asyncio.sleep(0.01)
        await asyncio.sleep(2.0)  # settle
        cpu0, wall0 = time.process_time(), time.monotonic()
        frames0 = sum(s["frames"] for s in whip.sessions())
        await asyncio.sleep(seconds)
        wall = time.monotonic() - wall0
        cpu = max(0.0, time.process_time() - cpu0 - idle * wall)
        frames = sum(s["frames"] for s in whip.sessions()) - frames0
    finally:
        await child.wait()
        await whip.aclose()
        await pushers.aclose()
        await runner.cleanup()
        await hub.aclose()
    return {"publishers": publishers, "window_s": round(wall, 1),
            "idle_hub_core_pct": round(100 * idle, 2),
            "hub_core_pct_total": round(100 * cpu / wall, 1),
            "hub_core_pct_per_stream": round(100 * cpu / wall / publishers, 2),
            "fps_per_stream": round(frames / wall / publishers, 1),
            "hub_us_per_frame": round(1e6 * cpu / max(frames, 1), 1),
            "publish_to_online_s_median": round(statistics.median(online.values()), 3),
            "publish_to_online_s_max": round(max(online.values()), 3),
            "note": "publish_to_online: from the publishers' POST to status online (ICE, "
                    "DTLS, first keyframe); fps is what the aiortc publishers managed to "
                    "encode on this CPU"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--publishers", type=int, default=3)
    parser.add_argument("--whip-seconds", type=float, default=10.0)
    parser.add_argument("--skip-whip", action="store_true")
    parser.add_argument("--skip-transcode", action="store_true")
    args = parser.parse_args()
    if not args.skip_transcode:
        for row in bench_transcode(args.seconds):
            print(json.dumps(row))
    if not args.skip_whip:
        print(json.dumps(asyncio.run(bench_whip(args.publishers, args.whip_seconds))))


if __name__ == "__main__":
    main()
