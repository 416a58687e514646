"""Viewer scenarios: ``fanout-ramp`` (one source to more and more viewers), ``join-storm``
(N viewers joining within T seconds), ``wall`` (many sources × few viewers each)."""

from __future__ import annotations

import asyncio

from ..context import RunContext
from ..farmproc import started_farm
from ..hubapi import import_sources
from ..plots import plot_steps, plot_timeline
from ..procstat import read_proc
from .common import capacity, idle_cores, ramp, viewer_step, wait_streams


def _farm(ctx: RunContext, count: int):
    budget = ctx.args.time_limit + 60
    return started_farm(ctx.work, ctx.clip_dir, count=count, profile=ctx.args.profile,
                        duration=budget)


def _step_cost(ctx: RunContext, viewers: int) -> float:
    return ctx.args.hold + ctx.args.join_window + 5 + viewers * 0.1


async def fanout_ramp(ctx: RunContext) -> dict:
    a = ctx.args
    stopped = None
    async with _farm(ctx, 1) as farm, ctx.hub() as hub:
        await import_sources(hub, farm.sources(always_on=True))
        await wait_streams(hub, farm.ids, 30)
        await asyncio.sleep(2.0)
        baseline = await idle_cores(hub.pid, a.hold)
        ctx.notes.append(f"hub CPU with the source pulled and no viewers: {baseline} cores")
        idle_rss = read_proc(hub.pid).rss / 2**20 if hub.pid else None
        if idle_rss is not None:
            ctx.notes.append(f"hub RSS with the source pulled and no viewers: "
                             f"{idle_rss:.1f} MiB (rss_per_viewer_mib is above it)")
        with ctx.progress:
            levels = ramp(a.viewers_start, a.max_viewers, a.viewer_step)
            task = ctx.progress.add_task("fan-out ramp", total=len(levels))
            for viewers in levels:
                if ctx.time_left() < _step_cost(ctx, viewers):
                    stopped = "time limit"
                    break
                step = await viewer_step(ctx, hub, farm.ids, viewers=viewers, hold=a.hold,
                                         join_window=a.join_window, extra={"streams": 1},
                                         baseline_cores=baseline)
                if idle_rss is not None and step.get("hub_rss_mib") is not None:
                    step["rss_per_viewer_mib"] = round(
                        (step["hub_rss_mib"] - idle_rss) / max(1, viewers), 3)
                ctx.progress.advance(task)
                if not step["within_limits"]:
                    break
    _plots(ctx, "fanout", "viewers", "One source, N viewers")
    cap = capacity(ctx, key="viewers", stopped=stopped)
    good = [s for s in ctx.steps if s["within_limits"]]
    cap["marginal_cpu_us_per_packet"] = good[-1]["marginal_cpu_us_per_packet"] if good else None
    cap["projected_viewers_per_core"] = projected_viewers_per_core(good[-1] if good else None)
    if cap["projected_viewers_per_core"]:
        ctx.notes.append("projected viewers per core = 1 s / (marginal CPU per packet × packets "
                         "per viewer per second): what one core of hub CPU would carry if "
                         "nothing else limited the run")
    return {"status": "ok", "capacity": cap}


def projected_viewers_per_core(step: dict | None) -> int | None:
    if not step or not step.get("marginal_cpu_us_per_packet") or not step.get("packets"):
        return None
    per_viewer_pps = step["packets"] / step["hold_s"] / step["connected"]
    return int(1e6 / (step["marginal_cpu_us_per_packet"] * per_viewer_pps))


async def join_storm(ctx: RunContext) -> dict:
    a = ctx.args
    stopped = None
    async with _farm(ctx, 1) as farm, ctx.hub() as hub:
        await import_sources(hub, farm.sources(always_on=True))  # a live source: no cold start
        await wait_streams(hub, farm.ids, 30)
        with ctx.progress:
            levels = ramp(a.viewers_start, a.max_viewers, a.viewer_step)
            task = ctx.progress.add_task(f"join storm ({a.join_window} s)", total=len(levels))
            for viewers in levels:
                if ctx.time_left() < _step_cost(ctx, viewers):
                    stopped = "time limit"
                    break
                step = await viewer_step(ctx, hub, farm.ids, viewers=viewers,
                                         hold=min(a.hold, 5.0), join_window=a.join_window,
                                         extra={"streams": 1, "join_window_s": a.join_window})
                ctx.progress.advance(task)
                if not step["within_limits"]:
                    break
    _plots(ctx, "join-storm", "viewers", f"N viewers joining within {a.join_window} s")
    cap = capacity(ctx, key="viewers", stopped=stopped)
    good = [s for s in ctx.steps if s["within_limits"]]
    cap["first_frame_p95_ms_at_capacity"] = good[-1]["first_frame_p95_ms"] if good else None
    return {"status": "ok", "capacity": cap}


async def wall(ctx: RunContext) -> dict:
    a = ctx.args
    stopped = None
    async with _farm(ctx, a.max_streams) as farm, ctx.hub() as hub:
        await import_sources(hub, farm.sources())
        with ctx.progress:
            levels = ramp(a.streams_start, a.max_streams, a.stream_step)
            task = ctx.progress.add_task(f"wall ({a.viewers_per_source} viewers/source)",
                                         total=len(levels))
            for streams in levels:
                viewers = streams * a.viewers_per_source
                if ctx.time_left() < _step_cost(ctx, viewers) + 5:
                    stopped = "time limit"
                    break
                step = await viewer_step(ctx, hub, farm.ids[:streams], viewers=viewers,
                                         hold=a.hold, join_window=a.join_window,
                                         extra={"streams": streams})
                ctx.progress.advance(task)
                if not step["within_limits"]:
                    break
    _plots(ctx, "wall", "streams", f"Wall: N sources × {a.viewers_per_source} viewers")
    cap = capacity(ctx, key="streams", stopped=stopped)
    good = [s for s in ctx.steps if s["within_limits"]]
    cap["viewers_held"] = good[-1]["viewers"] if good else None
    return {"status": "ok", "capacity": cap}


def _plots(ctx: RunContext, name: str, x: str, title: str) -> None:
    made = [
        plot_steps(ctx.out / f"{name}-cpu.png", ctx.steps, x,
                   [("hub_cpu_cores", "hub CPU (cores)")], title,
                   right=[("cpu_us_per_packet", "µs per delivered packet"),
                          ("marginal_cpu_us_per_packet", "µs per packet above no viewers")]),
        plot_steps(ctx.out / f"{name}-quality.png", ctx.steps, x,
                   [("first_frame_p95_ms", "first frame p95 (ms)"),
                    ("delay_p95_ms", "delay p95 (ms)")], title,
                   right=[("fps_min", "min fps")]),
    ]
    if ctx.monitor is not None:
        made.append(plot_timeline(ctx.out / f"{name}-timeline.png", ctx.monitor.series,
                                  ctx.monitor.marks, f"{title}: hub over time"))
    ctx.plots += [p.name for p in made if p is not None]
