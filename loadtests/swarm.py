"""Viewer swarm worker: N non-decoding viewers (WHEP or Janus), joining within a window,
held for a bounded time; prints one JSON report. Runs as its own process so viewer CPU never
counts as hub CPU, and so it can run inside a network namespace. Viewers are light by default
(:mod:`loadtests.light_viewer`: ICE + DTLS-SRTP with aiortc, RTP counted at the DTLS transport,
no jitter buffer), so the swarm outlasts the servers it loads; ``--viewer counting`` keeps
aiortc's jitter buffer (pictures reassembled and counted, not decoded).

    python -m loadtests.swarm --whep http://127.0.0.1:8080/whep/cam001 --count 20 \
        --join-window 2 --duration 15 [--token T] [--host-address 127.0.0.1]
    python -m loadtests.swarm --janus http://10.77.0.1:8088/janus --mountpoint 1 ...
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import statistics
import sys
import time

import aiohttp

from .janus_viewer import JanusViewer
from .light_viewer import LightViewer
from .viewer import CountingViewer, inbound_stats

logger = logging.getLogger(__name__)

MAX_VIEWERS = 500
MAX_DURATION = 600.0
#: seconds a viewer may take to its first frame before it counts as failed
FIRST_FRAME_TIMEOUT = 20.0
#: seconds between the last first frame and the hold period
SETTLE = 2.0
#: seconds a --sync worker waits for the parent's go
SYNC_TIMEOUT = 120.0


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def _join(viewer, delay: float) -> str | None:
    await asyncio.sleep(delay)
    try:
        async with asyncio.timeout(FIRST_FRAME_TIMEOUT + 10):
            await viewer.start()
        return None
    except Exception as exc:  # noqa: BLE001 - a refused viewer is a result, not a crash
        return f"{type(exc).__name__}: {exc}"[:200]


def event(name: str) -> None:
    """Tell the parent (on stderr, one JSON line) where the run is, so it can sample CPU."""
    print(json.dumps({"event": name}), file=sys.stderr, flush=True)


async def _stats(viewer) -> dict:
    c = viewer.counter
    counts = {"frames": c.frames if c else 0, "bytes": c.bytes if c else 0}
    if viewer.pc is None:
        return {"packets": 0, "lost": 0, **counts}
    rtp = getattr(viewer, "rtp", None)
    try:
        if rtp is not None:  # a light viewer: its own counts, aiortc's receiver saw nothing
            return {**await rtp.stats(), **counts}
        return {**await inbound_stats(viewer.pc), **counts}
    except Exception:  # noqa: BLE001 - a closed peer has no stats
        return {"packets": 0, "lost": 0, **counts}


async def viewer_result(viewer, error: str | None, start: float, end: float,
                        before: dict) -> dict:
    """Counts of one viewer; packets and loss are those of the hold period only."""
    c = viewer.counter
    result: dict = {"error": error, "first_frame_ms": None, "frames": 0, "fps": 0.0,
                    "bitrate_kbps": 0.0, "keyframes": 0, "packets": 0, "lost": 0,
                    "loss": 0.0, "delay_p95_ms": None, "jitter_ms": None}
    if c is None or viewer.pc is None:
        return result
    ff = viewer.first_frame_s
    result["first_frame_ms"] = None if ff is None else round(ff * 1000, 1)
    result["frames"] = c.frames
    result["keyframes"] = c.keyframes
    stats = await _stats(viewer)
    span = max(1e-3, end - start)
    result["fps"] = round((stats["frames"] - before["frames"]) / span, 2)
    result["bitrate_kbps"] = round((stats["bytes"] - before["bytes"]) * 8 / 1000 / span, 1)
    result["jitter_ms"] = stats.get("jitter_ms")
    result["packets"] = max(0, stats["packets"] - before["packets"])
    result["lost"] = max(0, stats["lost"] - before["lost"])
    total = result["packets"] + result["lost"]
    result["loss"] = round(result["lost"] / total, 5) if total else 0.0
    p95 = percentile(c.delays_ms(start, end), 95)  # the hold period: after any catch-up
    result["delay_p95_ms"] = None if p95 is None else round(p95, 1)
    if error is None and ff is None:
        result["error"] = "no frame"
    return result


async def run_swarm(args: argparse.Namespace) -> dict:
    rng = random.Random(args.seed)
    async with aiohttp.ClientSession() as http:
        if args.janus:
            viewers = [JanusViewer(args.janus, args.mountpoint, http=http,
                                   host_addresses=args.host_address,
                                   light=args.viewer == "light") for _ in range(args.count)]
        else:
            kind = LightViewer if args.viewer == "light" else CountingViewer
            viewers = [kind(args.whep[i % len(args.whep)], token=args.token,
                            http=http, host_addresses=args.host_address)
                       for i in range(args.count)]
        delays = sorted(rng.uniform(0, args.join_window) for _ in viewers)
        t0 = time.monotonic()
        try:
            errors = await asyncio.gather(*(_join(v, d) for v, d in zip(viewers, delays,
                                                                         strict=True)))
            join_s = time.monotonic() - t0
            deadline = t0 + args.join_window + FIRST_FRAME_TIMEOUT
            while time.monotonic() < deadline and any(
                    e is None and (v.counter is None or v.counter.first_at is None)
                    for v, e in zip(viewers, errors, strict=True)):
                await asyncio.sleep(0.2)
            await asyncio.sleep(SETTLE)  # let the last joiners finish their GOP catch-up
            if args.sync:  # several workers: hold together when the parent says go
                event("ready")
                async with asyncio.timeout(SYNC_TIMEOUT):
                    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            before = [await _stats(v) for v in viewers]
            start = time.monotonic()
            event("holding")
            await asyncio.sleep(args.duration)
            end = time.monotonic()
            event("held")
            results = [await viewer_result(v, e, start, end, b)
                       for v, e, b in zip(viewers, errors, before, strict=True)]
        finally:
            await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)
    return summarize(results, join_s=join_s, held_s=end - start)


def summarize(results: list[dict], *, join_s: float, held_s: float) -> dict:
    ok = [r for r in results if r["error"] is None]
    first = [r["first_frame_ms"] for r in ok if r["first_frame_ms"] is not None]
    packets = sum(r["packets"] for r in ok)
    lost = sum(r["lost"] for r in ok)
    return {
        "viewers": len(results), "connected": len(ok),
        "failed": len(results) - len(ok),
        "errors": sorted({r["error"] for r in results if r["error"]})[:5],
        "join_s": round(join_s, 2), "held_s": round(held_s, 2),
        "first_frame_ms": {"p50": percentile(first, 50), "p95": percentile(first, 95),
                           "max": max(first) if first else None},
        "fps": {"min": min((r["fps"] for r in ok), default=0.0),
                "median": statistics.median([r["fps"] for r in ok]) if ok else 0.0},
        "bitrate_kbps_median": statistics.median([r["bitrate_kbps"] for r in ok])
        if ok else 0.0,
        "packets": packets, "lost": lost,
        "loss": round(lost / (packets + lost), 5) if packets + lost else 0.0,
        "delay_p95_ms": percentile([r["delay_p95_ms"] for r in ok
                                    if r["delay_p95_ms"] is not None], 95),
        "per_viewer": results,
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m loadtests.swarm", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--whep", action="append",
                        help="WHEP URL of a source (repeatable: viewers spread round-robin)")
    target.add_argument("--janus", help="Janus HTTP API URL (…/janus)")
    parser.add_argument("--mountpoint", type=int, default=1, help="Janus streaming mountpoint")
    parser.add_argument("--count", type=int, default=10, help=f"viewers (≤ {MAX_VIEWERS})")
    parser.add_argument("--join-window", type=float, default=2.0,
                        help="viewers join at random times within this many seconds")
    parser.add_argument("--duration", type=float, default=15.0,
                        help=f"seconds held after the joins (≤ {MAX_DURATION:.0f})")
    parser.add_argument("--token", default=os.environ.get("FH_LOADTEST_TOKEN"),
                        help="bearer token for WHEP (default: $FH_LOADTEST_TOKEN)")
    parser.add_argument("--sync", action="store_true",
                        help="print a ready event and wait for a line on stdin before holding")
    parser.add_argument("--host-address", action="append", default=[],
                        help="ICE host candidate address of the viewers (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--viewer", choices=("light", "counting"), default="light",
                        help="light: RTP counted at the DTLS transport (no jitter buffer); "
                        "counting: aiortc's jitter buffer, pictures counted, not decoded")
    args = parser.parse_args(argv)
    if not 1 <= args.count <= MAX_VIEWERS or not 0 < args.duration <= MAX_DURATION \
            or not 0 <= args.join_window <= MAX_DURATION:
        parser.error("count, duration or join window out of bounds")
    args.host_address = args.host_address or ["127.0.0.1"]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    json.dump(asyncio.run(run_swarm(args)), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
