"""``push-churn``: simulated body-cams publishing over RTSP (ANNOUNCE/RECORD) and RTMP with
connect/disconnect churn; reports 'push ingest not available on this hub' cleanly when the
hub refuses both."""

from __future__ import annotations

import asyncio
import random

from ..camfarm.clips import make_clip
from ..context import RunContext
from ..hubapi import import_sources, metrics
from ..hubproc import HubHandle, free_port
from ..plots import plot_steps, plot_timeline
from ..procstat import cpu_between
from ..push_swarm import PushPublisher, PushSwarm, publish_url

NOT_AVAILABLE = "push ingest not available on this hub"


def _ports(ctx: RunContext, hub: HubHandle, rtmp_port: int | None) -> dict[str, int]:
    if ctx.args.hub:  # an existing hub: its default ports
        return {"rtsp": 8554, "rtmp": 1935}
    ports = {"rtsp": hub.rtsp_port}
    if rtmp_port:
        ports["rtmp"] = rtmp_port
    return ports


async def _probe(ctx, hub, ports, clip, source_id) -> dict[str, str | None]:
    """One short session per protocol: ``None`` if it published, else the error."""
    verdict: dict[str, str | None] = {}
    for protocol, port in ports.items():
        publisher = PushPublisher(source_id, protocol, publish_url(
            protocol, hub.host(), port, source_id, hub.token("device", (), source_id)),
            clip, min_s=4, max_s=4, rng=random.Random(0))
        await publisher.session(4.0)
        s = publisher.stats
        verdict[protocol] = None if s.completed else (s.last_error or "refused")[:300]
    return verdict


async def push_churn(ctx: RunContext) -> dict:
    a = ctx.args
    clip = await asyncio.to_thread(make_clip, ctx.clip_dir / f"shared-{a.profile}-h264.mp4",
                                   name=f"camfarm {a.profile}", profile=a.profile,
                                   seconds=10.0, seed=0, codec="h264")
    rtmp_port = free_port()
    try:
        async with ctx.hub(extra={"rtmp": {"host": "127.0.0.1", "port": rtmp_port}}) as hub:
            return await _run(ctx, hub, _ports(ctx, hub, rtmp_port), clip)
    except RuntimeError as exc:
        if "hub exited" not in str(exc):
            raise
        ctx.notes.append("this hub has no `rtmp` config section: RTMP push not tried")
    async with ctx.hub() as hub:
        return await _run(ctx, hub, _ports(ctx, hub, None), clip)


async def _run(ctx: RunContext, hub: HubHandle, ports: dict[str, int], clip) -> dict:
    a = ctx.args
    ids = [f"bodycam{i + 1:03d}" for i in range(a.publishers)]
    await import_sources(hub, [{"id": i, "kind": "bodycam", "group": "loadtest/field",
                                "publish": True} for i in ids])
    verdict = await _probe(ctx, hub, ports, clip, ids[0])
    ctx.notes += [f"{p} push: {'ok' if e is None else 'refused: ' + e}"
                  for p, e in verdict.items()]
    usable = [p for p, e in verdict.items() if e is None]
    if not usable:
        ctx.notes.append(NOT_AVAILABLE)
        return {"status": "not_available", "capacity": {"limited_by": NOT_AVAILABLE}}
    rng = random.Random(a.seed)
    publishers = [PushPublisher(i, usable[n % len(usable)], publish_url(
        usable[n % len(usable)], hub.host(), ports[usable[n % len(usable)]], i,
        hub.token("device", (), i)), clip, min_s=a.churn_min, max_s=a.churn_max, rng=rng)
        for n, i in enumerate(ids)]
    seconds = max(10.0, min(ctx.time_left() - 30, a.hold * 4))
    baseline = ctx.monitor.sample() if ctx.monitor else None
    with ctx.progress:
        task = ctx.progress.add_task(f"push churn ({len(ids)} publishers)", total=seconds)
        swarm = asyncio.create_task(PushSwarm(publishers).run(seconds))
        try:
            while not swarm.done():
                before, m0 = ctx.monitor.sample() if ctx.monitor else None, await metrics(hub)
                await asyncio.wait({swarm}, timeout=5.0)
                after, m1 = ctx.monitor.sample() if ctx.monitor else None, await metrics(hub)
                ctx.progress.update(task, completed=min(seconds, len(ctx.steps) * 5 + 5))
                streams = int(m1.get("fusionhub_streams", 0))
                step = {"streams": streams, "hub_cpu_cores": None, "hub_rss_mib": None,
                        "ingest_mbit_s": round(m1.get("fusionhub_stream_bitrate_bps", 0) / 1e6,
                                               2),
                        "aus_in": int(m1.get("fusionhub_stream_access_units_in_total", 0)
                                      - m0.get("fusionhub_stream_access_units_in_total", 0))}
                if before and after:
                    step["hub_cpu_cores"] = round(cpu_between(before, after), 3)
                    step["hub_rss_mib"] = round(after.rss / 2**20, 1)
                    if baseline and streams:
                        step["memory_per_stream_bytes"] = int((after.rss - baseline.rss)
                                                              / streams)
                ctx.step(step)
            stats = await swarm
        finally:
            swarm.cancel()
            await asyncio.gather(swarm, return_exceptions=True)
    sessions = sum(s.sessions for s in stats)
    refused = sum(s.refused for s in stats)
    failed = sum(s.failed for s in stats)
    errors = sorted({e[:200] for s in stats for e in s.errors})[:5]
    ctx.notes += [f"publisher error: {e}" for e in errors]
    made = [plot_steps(ctx.out / "push-churn.png", ctx.steps, "step",
                       [("streams", "active streams")], "push churn (5 s windows)",
                       right=[("hub_cpu_cores", "hub CPU (cores)")])]
    if ctx.monitor is not None:
        made.append(plot_timeline(ctx.out / "push-churn-timeline.png", ctx.monitor.series,
                                  ctx.monitor.marks, "push churn: hub over time"))
    ctx.plots += [p.name for p in made if p is not None]
    good = [s for s in ctx.steps if s["within_limits"]]
    memory = [s["memory_per_stream_bytes"] for s in good if s.get("memory_per_stream_bytes")]
    return {"status": "ok", "capacity": {
        "streams_held": max((s["streams"] for s in good), default=0),
        "viewers_held": None, "cpu_us_per_packet": None,
        "memory_per_stream_bytes": memory[-1] if memory else None,
        "limited_by": f"fixed swarm of {len(ids)} publishers"
                      + (f"; {refused} sessions refused" if refused else ""),
        "push_sessions": sessions, "push_refused": refused, "push_failed": failed,
        "protocols": usable}}
