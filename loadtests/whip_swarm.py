"""WHIP push swarm worker: N :class:`~loadtests.whip_publisher.WhipPublisher` body-cams with
connect/disconnect churn, bounded in count and time; prints one JSON report on stdout. Runs as
its own process (started by :mod:`loadtests.whip_run`) so publisher CPU never counts as hub
CPU and several workers can use every core.

    python -m loadtests.whip_swarm < spec.json

stdin: one JSON line, the spec (:func:`read_spec`; tokens travel here, never in argv), then,
with ``"sync": true``, a line ``go`` once every worker printed ``{"event": "ready"}`` on
stderr. stdout: ``{"publishers": [PublisherStats...], "watcher": {...}, "clip": {...}}``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import random
import sys

from .clip_track import ClipFrames
from .push_stats import resolve_online
from .status_watch import StatusWatcher
from .whip_publisher import CONNECT_TIMEOUT, WhipPublisher

logger = logging.getLogger(__name__)

MAX_PUBLISHERS = 200
MAX_DURATION = 3600.0
#: seconds a sync worker waits for ``go``
SYNC_TIMEOUT = 120.0
#: seconds after the last session for its status events to arrive
SETTLE = 1.0


def read_spec(text: str) -> dict:
    """Parse and bound the spec: ``clip`` (path of an H.264 file), ``duration`` (s),
    ``churn_min``/``churn_max`` (s), ``publishers`` (``[{"source_id", "url", "token"}]``), and
    optional ``events_url``/``events_token`` (time to online), ``host_addresses``, ``seed``,
    ``connect_timeout``, ``sync``."""
    spec = json.loads(text)
    if not isinstance(spec, dict):
        raise ValueError("spec must be a JSON object")
    publishers = spec.get("publishers")
    if not isinstance(publishers, list) or not 1 <= len(publishers) <= MAX_PUBLISHERS:
        raise ValueError(f"spec needs 1 to {MAX_PUBLISHERS} publishers")
    for p in publishers:
        if not isinstance(p, dict) or not p.get("source_id") or not p.get("url"):
            raise ValueError("each publisher needs source_id and url")
    if not 0 < float(spec.get("duration", 0)) <= MAX_DURATION:
        raise ValueError(f"duration must be within (0, {MAX_DURATION:.0f}] s")
    low, high = float(spec.get("churn_min", 0)), float(spec.get("churn_max", 0))
    if not 0.5 <= low <= high <= 600:
        raise ValueError("churn_min ≤ churn_max, both within [0.5, 600] s")
    if not spec.get("clip"):
        raise ValueError("spec needs clip")
    return spec


async def run(spec: dict, go: asyncio.Event | None = None) -> dict:
    """Load the clip, connect the status watcher, (wait for ``go``), churn until the
    duration is over, fill the times to online."""
    clip = await asyncio.to_thread(ClipFrames.load, spec["clip"])
    watcher = None
    if spec.get("events_url"):
        watcher = StatusWatcher(spec["events_url"], spec.get("events_token"))
        await watcher.start()
    try:
        rng = random.Random(spec.get("seed", 0))
        publishers = [WhipPublisher(
            p["source_id"], p["url"], p.get("token"), clip, min_s=float(spec["churn_min"]),
            max_s=float(spec["churn_max"]), rng=random.Random(rng.random()),
            host_addresses=spec.get("host_addresses") or ("127.0.0.1",),
            connect_timeout=float(spec.get("connect_timeout", CONNECT_TIMEOUT)))
            for p in spec["publishers"]]
        if go is not None:
            event("ready")
            async with asyncio.timeout(SYNC_TIMEOUT):
                await go.wait()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + float(spec["duration"])
        tasks = [asyncio.create_task(p.run(deadline), name=f"whip:{p.stats.source_id}")
                 for p in publishers]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        event("done")
        records = [r for p in publishers for r in p.stats.records]
        if watcher is not None:
            await asyncio.sleep(SETTLE)
            resolve_online(records, watcher)
        return {
            "publishers": [dataclasses.asdict(p.stats) for p in publishers],
            "frames_sent": sum(p.frames_sent for p in publishers),
            "bytes_sent": sum(p.bytes_sent for p in publishers),
            "watcher": None if watcher is None else {
                "messages": watcher.messages, "reconnects": watcher.reconnects,
                "error": watcher.error},
            "clip": {"frames": len(clip.frames), "width": clip.width, "height": clip.height,
                     "bitrate": round(clip.bitrate)},
        }
    finally:
        if watcher is not None:
            await watcher.aclose()


def event(name: str) -> None:
    """Tell the parent (on stderr, one JSON line) where the run is."""
    print(json.dumps({"event": name}), file=sys.stderr, flush=True)


async def _main() -> dict:
    loop = asyncio.get_running_loop()
    spec = read_spec(await loop.run_in_executor(None, sys.stdin.readline))
    if not spec.get("sync"):
        return await run(spec)
    go = asyncio.Event()

    async def wait_go() -> None:
        await loop.run_in_executor(None, sys.stdin.readline)  # "go" (or EOF: go anyway)
        go.set()

    waiter = asyncio.create_task(wait_go())
    try:
        return await run(spec, go)
    finally:
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)


def main() -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = asyncio.run(_main())
    except ValueError as exc:
        print(f"bad spec: {exc}", file=sys.stderr)
        return 2
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
