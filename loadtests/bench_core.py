"""Media-core benchmark (not a test): CPU per ingested stream (passthrough), CPU per relayed
WebRTC viewer, and a new viewer's first-frame time.

    python -m loadtests.bench_core [--streams 60] [--viewers 10] [--duration 20]

The camera farm and the viewer swarm run in their own processes; the hub runs in this one (on
uvloop, as `fusionhub serve` does), and only this process's CPU time is counted. Every phase
is bounded in time and the whole run stops by itself. Prints a JSON report.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mediaserver import __version__
from mediaserver.config import load_settings
from mediaserver.hub.app import Hub

PROFILE_BITRATE = {"main720": 2.0, "sub360": 0.5, "main1080": 4.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_farm(count: int, port: int, profile: str, clip_dir: Path, duration: float):
    return subprocess.Popen(
        [sys.executable, "-m", "loadtests.camfarm", "--count", str(count), "--port", str(port),
         "--profile", profile, "--clip-dir", str(clip_dir), "--duration", str(duration)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_streaming(hub: Hub, ids: list[str], timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while True:
            ready = [s for s in hub.manager.streams() if s.stats.aus_in > 0]
            if len(ready) >= len(ids):
                return
            await asyncio.sleep(0.5)


async def cpu_over(seconds: float) -> float:
    """Fraction of one core this process used over ``seconds``."""
    cpu0, t0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    return (time.process_time() - cpu0) / (time.monotonic() - t0)


async def ingest_phase(args, data_dir: Path) -> dict:
    port = free_port()
    farm = start_farm(args.streams, port, args.profile, args.clip_dir,
                      args.duration * 3 + 120)
    try:
        sources = [{"id": f"cam{i + 1:03d}", "url": f"rtsp://127.0.0.1:{port}/cam{i + 1:03d}",
                    "always_on": True} for i in range(args.streams)]
        await asyncio.sleep(2)  # the farm encodes/loads its clip, then listens
        hub = Hub(settings(data_dir / "ingest", sources))
        await hub.start()
        try:
            await wait_streaming(hub, [s["id"] for s in sources], 90)
            await asyncio.sleep(3)
            idle = await cpu_over(args.duration)
            aus = sum(s.stats.aus_in for s in hub.manager.streams())
            mbit = sum(s.stats.bitrate for s in hub.manager.streams()) / 1e6
        finally:
            await hub.aclose()
    finally:
        farm.terminate()
        farm.wait(10)
    per_stream = idle / args.streams
    return {"streams": args.streams, "profile": args.profile,
            "ingest_mbit_s": round(mbit, 1), "hub_cpu_cores": round(idle, 3),
            "cpu_percent_per_stream": round(per_stream * 100, 3),
            "streams_per_core": round(1 / per_stream) if per_stream else None,
            "access_units": aus}


async def viewer_phase(args, data_dir: Path) -> dict:
    port = free_port()
    farm = start_farm(1, port, args.viewer_profile, args.clip_dir, args.duration * 4 + 120)
    try:
        await asyncio.sleep(2)
        hub = Hub(settings(data_dir / "viewers", [
            {"id": "cam001", "url": f"rtsp://127.0.0.1:{port}/cam001", "always_on": True}]))
        await hub.start()
        try:
            await wait_streaming(hub, ["cam001"], 60)
            await asyncio.sleep(2)
            base = await cpu_over(args.duration / 2)
            url = f"http://127.0.0.1:{hub.http_port}/whep/cam001"
            swarm = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtests.viewer_swarm", "--url", url,
                "--count", str(args.viewers), "--duration", str(args.duration + 6),
                "--sequential-first-frames", str(args.first_frames),
                stdout=asyncio.subprocess.PIPE)
            # measure while the swarm is up (it joins after its sequential first frames)
            await asyncio.sleep(args.first_frames * 0.5 + 8)
            loaded = await cpu_over(args.duration)
            out, _ = await asyncio.wait_for(swarm.communicate(), args.duration * 2 + 120)
            result = json.loads(out)
        finally:
            await hub.aclose()
    finally:
        farm.terminate()
        farm.wait(10)
    fps = result["swarm"]["fps"]
    per_viewer = (loaded - base) / args.viewers
    return {"viewers": args.viewers, "profile": args.viewer_profile,
            "hub_cpu_cores_without_viewers": round(base, 3),
            "hub_cpu_cores_with_viewers": round(loaded, 3),
            "cpu_percent_per_viewer": round(per_viewer * 100, 2),
            "viewer_fps_min": min(fps), "viewer_fps_median": sorted(fps)[len(fps) // 2],
            "first_frame_ms_active_source": result["sequential_first_frame_ms"]}


def settings(data_dir: Path, sources: list[dict]):
    return load_settings(None, data_dir=data_dir, sources=sources,
                         http={"host": "127.0.0.1", "port": 0},
                         rtsp={"enabled": False}, auth={"mode": "none"},
                         probe={"enabled": False}, log={"level": "WARNING"},
                         webrtc={"host_addresses": ["127.0.0.1"]})


async def main_async(args) -> dict:
    import logging

    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory(prefix="fh-bench-") as tmp:
        report: dict = {"version": __version__, "machine": platform.machine(),
                        "cpus": os.cpu_count(), "python": platform.python_version(),
                        "duration_s": args.duration}
        if args.streams:
            report["ingest"] = await ingest_phase(args, Path(tmp))
        if args.viewers:
            report["relay"] = await viewer_phase(args, Path(tmp))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--streams", type=int, default=60, help="ingested streams (≤ 1000)")
    parser.add_argument("--profile", default="main720", choices=sorted(PROFILE_BITRATE))
    parser.add_argument("--viewers", type=int, default=10, help="WebRTC viewers (≤ 200)")
    parser.add_argument("--viewer-profile", default="sub360", choices=sorted(PROFILE_BITRATE))
    parser.add_argument("--first-frames", type=int, default=20,
                        help="sequential viewers for the first-frame measurement")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measurement")
    parser.add_argument("--clip-dir", type=Path,
                        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
                        / "fusionhub" / "clips")
    args = parser.parse_args(argv)
    if not (0 <= args.streams <= 1000 and 0 <= args.viewers <= 200
            and 0 < args.duration <= 300):
        parser.error("parameters out of bounds")
    try:
        import uvloop
        runner = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        report = runner(main_async(args))
        print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
