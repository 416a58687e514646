"""``registry``: bulk import of ``--sources`` sources (NDJSON, 5000 a request), paged listing
and group counts, then the idle-camera probes (OPTIONS + DESCRIBE every
``--probe-interval`` seconds) against the camera farm, which all sources point at."""

from __future__ import annotations

import asyncio
import os
import time

import aiohttp

from ..context import RunContext
from ..farmproc import started_farm
from ..hubapi import TIMEOUT, count_sources, import_sources
from ..plots import plot_steps, plot_timeline
from ..procstat import read_proc
from ..swarm import percentile

CHUNK = 5000
FARM_CAMERAS = 20
LIST_PAGES = 20


def children_rss(pid: int | None) -> int | None:
    """RSS of the hub's child processes (the embedded Valkey keeps the registry)."""
    if pid is None:
        return None
    kids: set[int] = set()
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children", encoding="ascii") as fh:
                kids.update(int(k) for k in fh.read().split())
        return sum(read_proc(k).rss for k in kids) if kids else None
    except (OSError, ValueError):
        return None


async def _timed_get(http, url, headers, params=None) -> tuple[float, dict]:
    t0 = time.monotonic()
    async with http.get(url, headers=headers, params=params, timeout=TIMEOUT) as resp:
        body = await resp.json(content_type=None)
        if resp.status != 200:
            raise RuntimeError(f"GET {url}: {resp.status} {str(body)[:200]}")
    return (time.monotonic() - t0) * 1000, body


async def registry(ctx: RunContext) -> dict:
    a = ctx.args
    async with started_farm(ctx.work, ctx.clip_dir, count=FARM_CAMERAS, profile="sub360",
                            duration=a.time_limit + 60) as farm, \
            ctx.hub(extra={"probe": {"enabled": True, "interval": a.probe_interval,
                                     "concurrency": 256}}) as hub:
        await asyncio.sleep(1.0)
        base_hub = ctx.monitor.sample() if ctx.monitor else None
        base_redis = children_rss(hub.pid)
        records = [{"id": f"reg{i:06d}", "name": f"camera {i}", "kind": "camera",
                    "group": f"city/district-{i % 16}/station-{i % 997}",
                    "url": farm.url(farm.ids[i % len(farm.ids)])} for i in range(a.sources)]
        with ctx.progress:
            task = ctx.progress.add_task(f"import {a.sources} sources", total=a.sources)
            t0 = time.monotonic()
            imported = 0
            for start in range(0, len(records), CHUNK):
                result = await import_sources(hub, records[start:start + CHUNK], chunk=CHUNK)
                imported += result["imported"]
                ctx.progress.advance(task, len(records[start:start + CHUNK]))
                if ctx.time_left() < 30:
                    ctx.notes.append(f"import cut by the time limit at {imported} sources")
                    break
            took = time.monotonic() - t0
        after_hub = ctx.monitor.sample() if ctx.monitor else None
        after_redis = children_rss(hub.pid)
        import_step = ctx.step({
            "phase": "import", "sources": imported, "seconds": round(took, 2),
            "rows_per_s": round(imported / took), "hub_rss_mib":
                round(after_hub.rss / 2**20, 1) if after_hub else None,
            "redis_rss_mib": round(after_redis / 2**20, 1) if after_redis else None,
            "hub_cpu_cores": round((after_hub.cpu_s - base_hub.cpu_s) / took, 3)
            if after_hub and base_hub else None})
        # listing: a cursor walk and group counts, timed from the client
        async with aiohttp.ClientSession() as http:
            lat, cursor = [], None
            for _ in range(LIST_PAGES):
                params = {"limit": "1000", **({"cursor": cursor} if cursor else {})}
                ms, body = await _timed_get(http, f"{hub.url}/api/v1/sources", hub.headers(),
                                            params)
                lat.append(ms)
                cursor = body.get("next_cursor")
                if not cursor:
                    break
            groups_ms, _ = await _timed_get(http, f"{hub.url}/api/v1/groups", hub.headers())
        ctx.step({"phase": "list", "sources": imported, "pages": len(lat),
                  "page_p50_ms": round(percentile(lat, 50), 1),
                  "page_p95_ms": round(percentile(lat, 95), 1),
                  "groups_ms": round(groups_ms, 1)})
        probe = await _probe_window(ctx, hub, imported)
    made = [plot_steps(ctx.out / "registry-probes.png", probe, "t_s",
                       [("online", "sources seen online")], "probe load",
                       right=[("hub_cpu_cores", "hub CPU (cores)")])]
    if ctx.monitor is not None:
        made.append(plot_timeline(ctx.out / "registry-timeline.png", ctx.monitor.series,
                                  ctx.monitor.marks, "registry: hub over time"))
    ctx.plots += [p.name for p in made if p is not None]
    per_source = None
    if after_redis is not None and base_redis is not None and imported:
        per_source = int((after_redis - base_redis) / imported)
    rates = [s["probes_per_s"] for s in probe if s.get("probes_per_s")]
    return {"status": "ok", "capacity": {
        "streams_held": None, "viewers_held": None, "cpu_us_per_packet": None,
        "memory_per_stream_bytes": None,
        "limited_by": f"{imported} sources imported; probes every {a.probe_interval:.0f} s",
        "sources": imported, "import_rows_per_s": import_step["rows_per_s"],
        "redis_bytes_per_source": per_source,
        "probes_per_s": max(rates) if rates else None,
        "probe_target_per_s": round(imported / a.probe_interval, 1)}}


async def _probe_window(ctx: RunContext, hub, total: int) -> list[dict]:
    """Sample sources seen online every 5 s while the probes run (bounded by time)."""
    window = max(10.0, min(ctx.time_left() - 20, ctx.args.probe_interval + 15,
                           ctx.args.hold * 6))
    samples: list[dict] = []
    t0 = time.monotonic()
    last_online, last_cpu = None, ctx.monitor.sample() if ctx.monitor else None
    while time.monotonic() - t0 < window:
        await asyncio.sleep(5.0)
        online = await count_sources(hub, state="online")
        cpu = ctx.monitor.sample() if ctx.monitor else None
        sample = {"phase": "probe", "t_s": round(time.monotonic() - t0, 1),
                  "online": online, "hub_cpu_cores": None, "probes_per_s": None}
        if cpu and last_cpu:
            sample["hub_cpu_cores"] = round((cpu.cpu_s - last_cpu.cpu_s) / (cpu.at - last_cpu.at),
                                            3)
        if online is not None and last_online is not None:
            sample["probes_per_s"] = round((online - last_online) / 5.0, 1)
        samples.append(ctx.step(sample))
        last_online, last_cpu = online, cpu
        if online is not None and online >= total:
            break
    return samples
