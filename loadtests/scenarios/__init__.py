"""The scenarios of ``python -m loadtests run``: name → coroutine taking a RunContext and
returning ``{"status": ..., "capacity": {...}}`` (plus steps/notes/plots on the context)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..context import RunContext


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    run: Callable[[RunContext], Awaitable[dict]]
    #: knob defaults that differ from the global ones
    defaults: dict


def _lazy(module: str, func: str) -> Callable[[RunContext], Awaitable[dict]]:
    async def run(ctx: RunContext) -> dict:
        import importlib

        return await getattr(importlib.import_module(f"{__name__}.{module}"), func)(ctx)
    return run


SCENARIOS: dict[str, Scenario] = {s.name: s for s in (
    Scenario("smoke", "2 ingested sub-streams, then 2 and 4 viewers: every report field, "
             "< 2 min", _lazy("ingest", "smoke"), {"hold": 4.0, "time_limit": 110.0}),
    Scenario("ingest-ramp", "always-on pulled sources up until CPU or loss limits",
             _lazy("ingest", "ingest_ramp"), {}),
    Scenario("fanout-ramp", "one source to more and more viewers",
             _lazy("fanout", "fanout_ramp"), {}),
    Scenario("wall", "many sources × few viewers each", _lazy("fanout", "wall"),
             {"max_streams": 8, "stream_step": 2, "streams_start": 2}),
    Scenario("join-storm", "N viewers joining within --join-window seconds",
             _lazy("fanout", "join_storm"), {"join_window": 1.0}),
    Scenario("push-churn", "simulated body-cams publishing RTSP/RTMP (ffmpeg) and WHIP "
             "(aiortc) with connect/disconnect churn (--protocols)",
             _lazy("push", "push_churn"), {}),
    Scenario("analytics-budget", "sampled sources vs the detector budget",
             _lazy("analytics", "analytics_budget"), {}),
    Scenario("registry", "bulk import of --sources sources, listing, and probe load "
             "against the camera farm", _lazy("registry", "registry"), {}),
    Scenario("recording", "streams pulled, then recorded continuously (CPU, disk bytes per "
             "stream-hour), playback time to first picture, 7-day index queries over "
             "--sources sources", _lazy("recording", "recording"),
             {"profile": "main720", "streams_start": 2, "stream_step": 2, "max_streams": 6,
              "hold": 20.0, "time_limit": 420.0, "sources": 100}),
    Scenario("side-by-side", "the fan-out workload against the hub and Janus 1.1 (streaming "
             "plugin, RTSP mountpoint) in a network namespace; CPU per packet ratio",
             _lazy("side_by_side", "side_by_side"), {"profile": "main720"}),
)}
