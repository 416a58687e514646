"""Benchmark push ingest: hub CPU per pushed stream (RTSP and RTMP) and time from publish to
``online`` / ``streaming`` in the status hash the wall reads.

A whole hub runs in this process (embedded Valkey in its own process, JWT access, status
board) with push ingest wired as ``mediaserver.hub.app`` will wire it; ``--streams`` ffmpeg
publishers (``-re -c copy``, looping a synthetic camera clip) push into ``publish: true``
sources, each with one subscriber that drains it (the fan-out path a viewer uses). CPU is this
process's CPU time (user + system) over a steady window, minus an idle baseline, per stream.
ffmpeg's own CPU is not counted (it is the device).

    .venv/bin/python scripts/bench_push.py --protocol both --streams 4 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from loadtests.camfarm.clips import PROFILES, make_clip  # noqa: E402
from mediaserver.config import load_settings  # noqa: E402
from mediaserver.config.push import RtmpConfig  # noqa: E402
from mediaserver.core.push import PushPublishers  # noqa: E402
from mediaserver.errors import SubscriberClosed  # noqa: E402
from mediaserver.hub.app import Hub  # noqa: E402
from mediaserver.protocols.rtsp.message import Request as RtspRequest  # noqa: E402
from mediaserver.servers.rtmp.server import RtmpServer  # noqa: E402

SECRET = "bench-push-secret-0123456789abcdef"


def cpu_seconds() -> float:
    times = os.times()
    return times.user + times.system


async def start_hub(data_dir: Path, streams: int) -> tuple[Hub, PushPublishers, RtmpServer]:
    sources = [{"id": f"push{i}", "group": "bench", "kind": "bodycam", "publish": True}
               for i in range(streams)]
    settings = load_settings(None, data_dir=data_dir, http={"host": "127.0.0.1", "port": 0},
                             rtsp={"host": "127.0.0.1", "port": 0},
                             auth={"mode": "jwt", "secret": SECRET},
                             probe={"enabled": False}, sources=sources)
    hub = Hub(settings)
    await hub.start()
    push = getattr(hub, "push", None)
    rtmp = getattr(hub, "rtmp", None)
    if push is None or rtmp is None:  # until mediaserver.hub.app wires push ingest
        push = PushPublishers(hub.manager, hub.status, hub.registry)
        await push.start()
        hub.rtsp.publishers = push

        async def authorize(token: str | None, source_id: str, action: str) -> bool:
            query = f"?token={token}" if token else ""
            return await hub.access.authorize_rtsp(
                RtspRequest("ANNOUNCE", f"rtsp://hub/{source_id}{query}"), source_id, action)

        rtmp = RtmpServer(push, getattr(hub.access, "authorize_token", authorize),
                          RtmpConfig(host="127.0.0.1", port=0))
        await rtmp.start()
    return hub, push, rtmp


async def drain(hub: Hub, source_id: str) -> None:
    sub = await hub.manager.subscribe(source_id, "bench-drain")
    try:
        while True:
            await sub.recv()
    except SubscriberClosed:
        pass
    finally:
        hub.manager.unsubscribe(sub)


async def wait_state(hub: Hub, source_id: str, states: tuple[str, ...], timeout: float
                     ) -> None:
    """Poll the status hash (the board coalesces writes: online may be overtaken by
    streaming within one flush)."""
    async with asyncio.timeout(timeout):
        while (await hub.redis.client.hget(f"fh:status:{source_id}", "state")) not in states:
            await asyncio.sleep(0.01)


async def run(protocol: str, streams: int, seconds: float, clip: Path, data_dir: Path) -> dict:
    hub, push, rtmp = await start_hub(data_dir, streams)
    procs: list[asyncio.subprocess.Process] = []
    drains: list[asyncio.Task[None]] = []
    try:
        idle_cpu, idle_start = cpu_seconds(), time.monotonic()
        await asyncio.sleep(2.0)
        idle = (cpu_seconds() - idle_cpu) / (time.monotonic() - idle_start)
        online: list[float] = []
        streaming: list[float] = []
        claimed: list[float] = []
        for i in range(streams):
            sid = f"push{i}"
            tok = hub.access.issue("device", (), ttl=600, subject=sid, source=sid)
            if protocol == "rtmp":
                url, fmt = f"{rtmp.url(sid)}?token={tok}", "flv"
            else:
                url, fmt = f"rtsp://127.0.0.1:{hub.rtsp.port}/{sid}?token={tok}", "rtsp"
            spawned = time.monotonic()
            procs.append(await asyncio.create_subprocess_exec(
                "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re",
                "-stream_loop", "-1", "-i", str(clip), "-t", str(seconds + 8), "-c", "copy",
                *(["-rtsp_transport", "tcp"] if fmt == "rtsp" else []), "-f", fmt, url,
                stdout=asyncio.subprocess.DEVNULL))
            await wait_state(hub, sid, ("online", "streaming"), 15)
            seen_online = time.monotonic()
            session = push.session(sid)
            assert session is not None
            online.append(seen_online - spawned)
            claimed.append(seen_online - session.claimed_at)
            await wait_state(hub, sid, ("streaming",), 15)
            streaming.append(time.monotonic() - spawned)
            drains.append(asyncio.create_task(drain(hub, sid)))
        await asyncio.sleep(2.0)  # settle
        frames0 = sum(hub.manager.stream(f"push{i}").stats.aus_in for i in range(streams))
        cpu0, t0 = cpu_seconds(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu = (cpu_seconds() - cpu0) / (time.monotonic() - t0)
        frames = sum(hub.manager.stream(f"push{i}").stats.aus_in for i in range(streams)) \
            - frames0
        bitrate = statistics.mean(hub.manager.stream(f"push{i}").stats.bitrate
                                  for i in range(streams))
        return {"protocol": protocol, "streams": streams, "idle_core_pct": idle * 100,
                "core_pct_total": cpu * 100,
                "core_pct_per_stream": (cpu - idle) * 100 / streams,
                "fps_per_stream": frames / seconds / streams,
                "mbit_per_stream": bitrate / 1e6,
                "spawn_to_online_ms": [round(x * 1000) for x in online],
                "publish_to_online_ms": [round(x * 1000) for x in claimed],
                "spawn_to_streaming_ms": [round(x * 1000) for x in streaming]}
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.terminate()
        await asyncio.gather(*(p.wait() for p in procs))
        for task in drains:
            task.cancel()
        await asyncio.gather(*drains, return_exceptions=True)
        if getattr(hub, "rtmp", None) is None:
            await rtmp.aclose()
            await push.aclose()
        await hub.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--protocol", choices=("rtsp", "rtmp", "both"), default="both")
    parser.add_argument("--streams", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="main720")
    args = parser.parse_args()
    if not 1 <= args.streams <= 64 or not 1 <= args.seconds <= 120:
        parser.error("--streams 1-64, --seconds 1-120")
    logging.basicConfig(level=logging.WARNING)
    clip = make_clip(Path("data/clips") / f"bench-push-{args.profile}.mp4", name="bench-push",
                     profile=args.profile, seconds=10)
    protocols = ("rtsp", "rtmp") if args.protocol == "both" else (args.protocol,)
    for protocol in protocols:
        with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
            result = asyncio.run(run(protocol, args.streams, args.seconds, clip, Path(tmp)))
        print(f"{protocol}: {result['streams']} x {args.profile} "
              f"({result['mbit_per_stream']:.2f} Mbit/s, {result['fps_per_stream']:.1f} fps "
              f"each): hub CPU {result['core_pct_per_stream']:.2f} % of a core per stream "
              f"({result['core_pct_total']:.1f} % total, idle {result['idle_core_pct']:.1f} %)")
        print(f"  publish (claim) -> online in Redis: {result['publish_to_online_ms']} ms")
        print(f"  ffmpeg spawn -> online:    {result['spawn_to_online_ms']} ms")
        print(f"  ffmpeg spawn -> streaming: {result['spawn_to_streaming_ms']} ms")


if __name__ == "__main__":
    main()
