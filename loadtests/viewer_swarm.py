"""Decoding viewer swarm: N aiortc WHEP viewers of one hub source that decode every frame,
bounded in count and time (used by ``bench_core`` for first-frame times of decoded pictures).
The load-test scenarios use :mod:`loadtests.swarm`, whose viewers count frames without
decoding.

    python -m loadtests.viewer_swarm --url http://127.0.0.1:8080/whep/cam001 --count 10 \
        --duration 20 [--token T] [--sequential-first-frames 20]

Prints one JSON object: per-viewer frames, fps and first-frame delay, and (with
``--sequential-first-frames K``) the first-frame delays of K viewers that join one after the
other, each closing after its first picture. aiortc decodes what it receives, so each viewer
costs decode CPU in this process — run the swarm in its own process, apart from the hub.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time

from signalling.clients.whep import WhepClient

MAX_VIEWERS = 500
MAX_DURATION = 600.0


async def swarm(url: str, count: int, duration: float, token: str | None,
                host_addresses: tuple[str, ...]) -> dict:
    viewers = [WhepClient(url, token=token, host_addresses=host_addresses)
               for _ in range(count)]
    try:
        await asyncio.gather(*(v.start() for v in viewers))
        await asyncio.gather(*(v.wait_frames(1, timeout=30) for v in viewers))
        start = time.monotonic()
        await asyncio.sleep(duration)
        end = time.monotonic()
        return {
            "viewers": count,
            "duration_s": round(end - start, 2),
            "fps": [round(v.frames_between(start, end) / (end - start), 2) for v in viewers],
            "first_frame_ms": [round(v.first_frame_delay * 1000, 1) for v in viewers],
        }
    finally:
        await asyncio.gather(*(v.close() for v in viewers), return_exceptions=True)


async def sequential_first_frames(url: str, count: int, token: str | None,
                                  host_addresses: tuple[str, ...]) -> list[float]:
    delays = []
    for _ in range(count):
        async with WhepClient(url, token=token, host_addresses=host_addresses) as viewer:
            await viewer.wait_frames(1, timeout=30)
            delays.append(round(viewer.first_frame_delay * 1000, 1))
    return delays


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def run(args: argparse.Namespace) -> dict:
    hosts = tuple(args.host_address)
    result: dict = {}
    if args.sequential_first_frames:
        delays = await sequential_first_frames(args.url, args.sequential_first_frames,
                                               args.token, hosts)
        result["sequential_first_frame_ms"] = {
            "samples": delays, "p50": statistics.median(delays),
            "p95": percentile(delays, 95), "max": max(delays)}
    if args.count:
        result["swarm"] = await swarm(args.url, args.count, args.duration, args.token, hosts)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="WHEP URL of the source")
    parser.add_argument("--count", type=int, default=10, help=f"viewers (≤ {MAX_VIEWERS})")
    parser.add_argument("--duration", type=float, default=20.0,
                        help=f"seconds to measure (≤ {MAX_DURATION:.0f})")
    parser.add_argument("--token", help="bearer token")
    parser.add_argument("--host-address", action="append", default=["127.0.0.1"],
                        help="ICE host candidate address of the viewers")
    parser.add_argument("--sequential-first-frames", type=int, default=0,
                        help="also measure K viewers joining one after another")
    args = parser.parse_args(argv)
    if not 0 <= args.count <= MAX_VIEWERS or not 0 < args.duration <= MAX_DURATION:
        parser.error("count or duration out of bounds")
    json.dump(asyncio.run(run(args)), sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
