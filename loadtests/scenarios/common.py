"""Steps shared by the scenarios: hold N ingested streams, run a viewer swarm, and turn the
measured steps into the capacity found."""

from __future__ import annotations

import asyncio
import time

from ..context import RunContext
from ..hubapi import import_sources, metrics
from ..hubproc import HubHandle
from ..procstat import cpu_between, read_proc
from ..swarm_run import run_swarm

#: frames per second of every clip profile
PROFILE_FPS = 25.0


async def wait_streams(hub: HubHandle, ids: list[str], timeout: float) -> dict[str, float]:
    """Wait until each of ``ids`` publishes (``fusionhub_stream_fps`` > 0); return fps."""
    deadline = time.monotonic() + timeout
    fps: dict[str, float] = {}
    while time.monotonic() < deadline:
        values = await metrics(hub)
        fps = {i: values.get(f'fusionhub_stream_fps{{source="{i}"}}', 0.0) for i in ids}
        if all(v > 0 for v in fps.values()):
            return fps
        await asyncio.sleep(1.0)
    return fps


def _sample(pid):
    try:
        return read_proc(pid) if pid else None
    except OSError:
        return None


async def ingest_step(ctx: RunContext, hub: HubHandle, records: list[dict], ids: list[str],
                      *, hold: float, baseline_rss: int | None) -> dict:
    """Import ``records`` (always on) so that ``ids`` all run, wait for them, hold, measure."""
    if records:
        await import_sources(hub, [{**r, "always_on": True} for r in records])
    await wait_streams(hub, ids, timeout=30 + len(records) * 0.5)
    await asyncio.sleep(2.0)  # let the 2 s rate windows fill
    before, m0 = _sample(hub.pid), await metrics(hub)
    await asyncio.sleep(hold)
    after, m1 = _sample(hub.pid), await metrics(hub)
    fps = [m1.get(f'fusionhub_stream_fps{{source="{i}"}}', 0.0) for i in ids]
    aus = sum(m1.get(f'fusionhub_stream_access_units_in_total{{source="{i}"}}', 0.0)
              - m0.get(f'fusionhub_stream_access_units_in_total{{source="{i}"}}', 0.0)
              for i in ids)
    expected = PROFILE_FPS * hold * len(ids)
    step = {"streams": len(ids), "hold_s": hold,
            "ingest_mbit_s": round(sum(m1.get(f'fusionhub_stream_bitrate_bps{{source="{i}"}}',
                                              0.0) for i in ids) / 1e6, 2),
            "fps_min": round(min(fps), 1) if fps else None,
            "loss": round(max(0.0, 1 - aus / expected), 4) if expected else None,
            "hub_cpu_cores": None, "hub_rss_mib": None, "memory_per_stream_bytes": None,
            "cpu_percent_per_stream": None}
    if before is not None and after is not None:
        cores = cpu_between(before, after)
        step["hub_cpu_cores"] = round(cores, 3)
        step["cpu_percent_per_stream"] = round(cores * 100 / len(ids), 3)
        step["hub_rss_mib"] = round(after.rss / 2**20, 1)
        if baseline_rss is not None:
            step["memory_per_stream_bytes"] = int((after.rss - baseline_rss) / len(ids))
    return ctx.step(step)


async def idle_cores(pid: int | None, seconds: float) -> float | None:
    """Cores ``pid`` uses over ``seconds`` (the baseline before viewers join)."""
    before = _sample(pid)
    await asyncio.sleep(seconds)
    after = _sample(pid)
    return round(cpu_between(before, after), 4) if before and after else None


def marginal(step: dict, baseline_cores: float | None) -> float | None:
    """µs of server CPU per delivered packet above the no-viewer baseline."""
    if baseline_cores is None or not step.get("packets") or step.get("hub_cpu_cores") is None:
        return None
    extra = (step["hub_cpu_cores"] - baseline_cores) * step["hold_s"]
    return round(max(0.0, extra) * 1e6 / step["packets"], 2)


async def viewer_step(ctx: RunContext, hub: HubHandle, source_ids: list[str], *, viewers: int,
                      hold: float, join_window: float, host_addresses=("127.0.0.1",),
                      netns: str | None = None, extra: dict | None = None,
                      baseline_cores: float | None = None) -> dict:
    """One swarm of ``viewers`` spread over ``source_ids``; the step's numbers."""
    target: list[str] = []
    for source_id in source_ids:
        target += ["--whep", f"{hub.url}/whep/{source_id}"]
    result = await run_swarm(target, count=viewers, duration=hold, join_window=join_window,
                             server_pid=hub.pid, token=hub.token("viewer"),
                             host_addresses=tuple(host_addresses), netns=netns,
                             seed=ctx.args.seed + len(ctx.steps))
    step = swarm_step(result)
    step["marginal_cpu_us_per_packet"] = marginal(step, baseline_cores)
    return ctx.step({**(extra or {}), **step})


def swarm_step(result: dict) -> dict:
    kbytes = sum(v["bitrate_kbps"] for v in result["per_viewer"] if v["error"] is None) \
        * result["held_s"] / 8
    per_kbyte = None
    if kbytes and result["server_cpu_s"] is not None:
        per_kbyte = round(result["server_cpu_s"] * 1e6 / kbytes, 2)
    return {"cpu_us_per_kbyte": per_kbyte,
            "viewers": result["viewers"], "connected": result["connected"],
            "failed": result["failed"], "errors": result["errors"],
            "hold_s": result["held_s"], "join_s": result["join_s"],
            "first_frame_p50_ms": result["first_frame_ms"]["p50"],
            "first_frame_p95_ms": result["first_frame_ms"]["p95"],
            "first_frame_max_ms": result["first_frame_ms"]["max"],
            "fps_min": result["fps"]["min"], "fps_median": result["fps"]["median"],
            "bitrate_kbps_median": result["bitrate_kbps_median"],
            "packets": result["packets"], "loss": result["loss"],
            "delay_p95_ms": result["delay_p95_ms"],
            "hub_cpu_cores": result["server_cpu_cores"],
            "hub_rss_mib": None if result["server_rss_bytes"] is None
            else round(result["server_rss_bytes"] / 2**20, 1),
            "cpu_us_per_packet": result["cpu_us_per_packet"],
            "per_viewer": {key: [v[key] for v in result["per_viewer"]] for key in
                           ("first_frame_ms", "fps", "delay_p95_ms", "loss", "error")}}


def capacity(ctx: RunContext, *, key: str, stopped: str | None) -> dict:
    """Largest ``key`` (streams or viewers) of a step within limits, and its costs."""
    good = [s for s in ctx.steps if s.get("within_limits") and s.get(key) is not None]
    best = max(good, key=lambda s: s[key], default=None)
    limited_by = stopped or (ctx.steps[-1].get("limit_hit") if ctx.steps else None) \
        or "ramp ended within limits (raise the maximum)"
    per_packet = [s["cpu_us_per_packet"] for s in good if s.get("cpu_us_per_packet")]
    memory = [s["memory_per_stream_bytes"] for s in good
              if s.get("memory_per_stream_bytes") is not None]
    return {
        "streams_held": best.get("streams") if best and key == "streams" else None,
        "viewers_held": best.get("viewers") if best and key == "viewers" else None,
        "cpu_us_per_packet": per_packet[-1] if per_packet else None,
        "memory_per_stream_bytes": memory[-1] if memory else None,
        "limited_by": limited_by,
    }


def ramp(start: int, stop: int, step: int) -> list[int]:
    """``start, start+step, …, stop`` (bounded, at least one value)."""
    start, stop = max(1, start), max(1, stop)
    values = list(range(start, stop + 1, max(1, step)))[:200]
    if len(values) < 200 and (not values or values[-1] != stop):
        values.append(stop)
    return values
