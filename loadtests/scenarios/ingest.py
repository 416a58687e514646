"""``ingest-ramp`` (more and more always-on pulled sources until CPU or loss limits) and
``smoke`` (a small ingest step and two small viewer steps: every field of a report, fast)."""

from __future__ import annotations

import asyncio

from ..context import RunContext
from ..farmproc import started_farm
from ..plots import plot_steps, plot_timeline
from .common import capacity, ingest_step, ramp, viewer_step


async def _baseline_rss(ctx: RunContext) -> int | None:
    await asyncio.sleep(1.0)
    sample = ctx.monitor.sample() if ctx.monitor else None
    return sample.rss if sample else None


async def ingest_ramp(ctx: RunContext) -> dict:
    a = ctx.args
    stopped = None
    async with started_farm(ctx.work, ctx.clip_dir, count=a.max_streams, profile=a.profile,
                            duration=a.time_limit + 60) as farm, ctx.hub() as hub:
        baseline = await _baseline_rss(ctx)
        records = farm.sources()
        running = 0
        with ctx.progress:
            levels = ramp(a.streams_start, a.max_streams, a.stream_step)
            task = ctx.progress.add_task("ingest ramp", total=len(levels))
            for streams in levels:
                if ctx.time_left() < a.hold + 15 + (streams - running) * 0.5:
                    stopped = "time limit"
                    break
                step = await ingest_step(ctx, hub, records[running:streams], farm.ids[:streams],
                                         hold=a.hold, baseline_rss=baseline)
                running = streams
                ctx.progress.advance(task)
                if not step["within_limits"]:
                    break
    _ingest_plots(ctx, "ingest")
    cap = capacity(ctx, key="streams", stopped=stopped)
    good = [s for s in ctx.steps if s["within_limits"]]
    basis = good[-1] if good else (ctx.steps[0] if ctx.steps else None)
    cap["cpu_percent_per_stream"] = basis["cpu_percent_per_stream"] if basis else None
    cap["projected_streams_per_core"] = int(100 / basis["cpu_percent_per_stream"]) \
        if basis and basis["cpu_percent_per_stream"] else None
    if basis is not None and not good:
        ctx.notes.append(f"no step within limits: CPU per stream is that of step 1 "
                         f"({basis['streams']} streams, {basis['limit_hit']})")
    cap["cpu_us_per_packet"] = None
    ctx.notes.append("ingest-ramp has no viewers: cpu_us_per_packet is measured by the "
                     "viewer scenarios; loss here is access units missing against 25 fps")
    return {"status": "ok", "capacity": cap}


async def smoke(ctx: RunContext) -> dict:
    """2 sub-stream cameras ingested, then 2 and 4 viewers of one of them."""
    a = ctx.args
    async with started_farm(ctx.work, ctx.clip_dir, count=2, profile="sub360",
                            duration=a.time_limit + 60) as farm, ctx.hub() as hub:
        baseline = await _baseline_rss(ctx)
        with ctx.progress:
            task = ctx.progress.add_task("smoke", total=3)
            await ingest_step(ctx, hub, farm.sources(), farm.ids, hold=a.hold,
                              baseline_rss=baseline)
            ctx.progress.advance(task)
            for viewers in (2, 4):
                await viewer_step(ctx, hub, farm.ids[:1], viewers=viewers, hold=a.hold,
                                  join_window=1.0, extra={"streams": 2})
                ctx.progress.advance(task)
    _ingest_plots(ctx, "smoke")
    ingest = ctx.steps[0]
    viewers = [s for s in ctx.steps[1:] if s["within_limits"]]
    per_packet = [s["cpu_us_per_packet"] for s in viewers if s.get("cpu_us_per_packet")]
    breaks = [s["limit_hit"] for s in ctx.steps if s["limit_hit"]]
    return {"status": "ok", "capacity": {
        "streams_held": ingest["streams"] if ingest["within_limits"] else 0,
        "viewers_held": max((s["viewers"] for s in viewers), default=0),
        "cpu_us_per_packet": per_packet[-1] if per_packet else None,
        "memory_per_stream_bytes": ingest["memory_per_stream_bytes"],
        "limited_by": breaks[0] if breaks else "smoke scale (not a capacity search)",
    }}


def _ingest_plots(ctx: RunContext, name: str) -> None:
    made = [plot_steps(ctx.out / f"{name}-steps.png", ctx.steps,
                       "streams" if name == "ingest" else "step",
                       [("hub_cpu_cores", "hub CPU (cores)")], f"{name}: hub CPU",
                       right=[("hub_rss_mib", "hub RSS (MiB)")])]
    if ctx.monitor is not None:
        made.append(plot_timeline(ctx.out / f"{name}-timeline.png", ctx.monitor.series,
                                  ctx.monitor.marks, f"{name}: hub over time"))
    ctx.plots += [p.name for p in made if p is not None]
