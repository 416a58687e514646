"""``analytics-budget``: more and more sources with analytics enabled against a fixed
detector budget (inferences/s); reports samples taken vs skipped per step. Until the hub
accepts an ``analytics`` section and exports sampler metrics, it reports 'not available'."""

from __future__ import annotations

import asyncio

from mediaserver.config import Settings

from ..context import RunContext
from ..farmproc import started_farm
from ..hubapi import import_sources, metrics
from ..plots import plot_steps
from .common import ramp

NOT_AVAILABLE = "analytics not available on this hub"


#: skip reasons that mean "over the detector budget" (not "no new keyframe yet")
BUDGET_REASONS = ("budget", "queue_full")


def sampler_counters(values: dict[str, float], *, detector: bool = True
                     ) -> tuple[float, float] | None:
    """(samples taken, samples skipped over budget) from the hub's analytics counters
    (``fusionhub_analytics_samples_total``, ``…_samples_skipped_total{reason}``,
    ``…_detector_dropped_total``); ``None`` when the hub exports none. Without a detector,
    decoded samples it could not take count as taken (``queue_full`` means "no detector")."""
    if "fusionhub_analytics_samples_total" not in values:
        return None

    def skipped(reason: str) -> float:
        return values.get(f'fusionhub_analytics_samples_skipped_total{{reason="{reason}"}}', 0.0)

    taken = values["fusionhub_analytics_samples_total"]
    if not detector:
        return taken + skipped("queue_full"), skipped("budget")
    over = sum(skipped(r) for r in BUDGET_REASONS)
    return taken, over + values.get("fusionhub_analytics_detector_dropped_total", 0.0)


#: the detector budget (inferences/s) and per-source interval of the hub under test
BUDGET = 4.0
INTERVAL = 2.0


async def analytics_budget(ctx: RunContext) -> dict:
    if not ctx.args.hub and "analytics" not in Settings.model_fields:
        ctx.notes.append(NOT_AVAILABLE + ": the hub has no `analytics` config section")
        return {"status": "not_available", "capacity": {"limited_by": NOT_AVAILABLE}}
    base = {"enabled": True, "budget": BUDGET, "interval": INTERVAL}
    try:
        return await _with_hub(ctx, {"analytics": base})
    except RuntimeError as exc:
        if "hub exited" not in str(exc):
            raise
    # most likely no model file here: measure the sampler and its budget without inference
    ctx.notes.append("the hub did not start with its detector (no model file?): detector "
                     "off, so the sampler and its budget are measured, not inference")
    return await _with_hub(ctx, {"analytics": {**base, "detector": "off"}})


async def _with_hub(ctx: RunContext, extra: dict) -> dict:
    a = ctx.args
    async with started_farm(ctx.work, ctx.clip_dir, count=a.max_streams, profile="sub360",
                            duration=a.time_limit + 60) as farm, \
            ctx.hub(extra=extra) as hub:
        counters = sampler_counters(await metrics(hub))
        if counters is None:
            ctx.notes.append(NOT_AVAILABLE + ": no fusionhub_analytics_samples_total "
                             "in /metrics")
            return {"status": "not_available", "capacity": {"limited_by": NOT_AVAILABLE}}
        ctx.notes.append(f"detector budget {BUDGET}/s, one sample per source every "
                         f"{INTERVAL} s: the budget is full at {int(BUDGET * INTERVAL)} "
                         "sources")
        return await _ramp(ctx, hub, farm,
                           detector=extra["analytics"].get("detector") != "off")


async def _ramp(ctx: RunContext, hub, farm, *, detector: bool) -> dict:
    a = ctx.args
    running = 0
    with ctx.progress:
        levels = ramp(a.streams_start, a.max_streams, a.stream_step)
        task = ctx.progress.add_task("analytics budget", total=len(levels))
        for streams in levels:
            if ctx.time_left() < a.hold + 15:
                break
            await import_sources(hub, [{**r, "always_on": True, "analytics": {"enabled": True}}
                                       for r in farm.sources()[running:streams]])
            running = streams
            await asyncio.sleep(3.0)
            before = sampler_counters(await metrics(hub), detector=detector) or (0.0, 0.0)
            sample0 = ctx.monitor.sample() if ctx.monitor else None
            await asyncio.sleep(a.hold)
            after = sampler_counters(await metrics(hub), detector=detector) or (0.0, 0.0)
            sample1 = ctx.monitor.sample() if ctx.monitor else None
            taken = (after[0] - before[0]) / a.hold
            skipped = (after[1] - before[1]) / a.hold
            step = ctx.step({"streams": streams, "samples_per_s": round(taken, 2),
                      "skipped_per_s": round(skipped, 2),
                      "loss": round(skipped / (taken + skipped), 4) if taken + skipped else 0.0,
                      "hub_cpu_cores": round((sample1.cpu_s - sample0.cpu_s)
                                             / (sample1.at - sample0.at), 3)
                      if sample0 and sample1 else None})
            ctx.progress.advance(task)
            if not step["within_limits"]:
                break
    made = plot_steps(ctx.out / "analytics-budget.png", ctx.steps, "streams",
                      [("samples_per_s", "samples/s"), ("skipped_per_s", "skipped/s")],
                      "sampled sources vs detector budget")
    if made is not None:
        ctx.plots.append(made.name)
    within = [s for s in ctx.steps if s["skipped_per_s"] == 0]
    return {"status": "ok", "capacity": {
        "streams_held": max((s["streams"] for s in within), default=0),
        "viewers_held": None, "cpu_us_per_packet": None, "memory_per_stream_bytes": None,
        "limited_by": "detector budget (samples skipped)" if len(within) < len(ctx.steps)
        else "ramp ended within the budget"}}
