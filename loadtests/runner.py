"""Runs one scenario under its time limit and writes the report (also when it fails)."""

from __future__ import annotations

import argparse
import logging
import time
import traceback
from pathlib import Path

from .context import RunContext
from .procstat import machine_info
from .report import build_report, write_report
from .scenarios import SCENARIOS

logger = logging.getLogger(__name__)

#: seconds past --time-limit allowed for tearing down before the run is cut
TEARDOWN_GRACE = 60.0

EMPTY_CAPACITY = {"streams_held": None, "viewers_held": None, "cpu_us_per_packet": None,
                  "memory_per_stream_bytes": None, "limited_by": None}


def parameters(args: argparse.Namespace) -> dict:
    skip = {"command", "out", "token", "verbose", "clip_dir"}
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items())
            if k not in skip}


async def run_scenario(args: argparse.Namespace, work: Path) -> dict:
    import asyncio

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    ctx = RunContext(args, args.out, work)
    machine = machine_info()
    scenario = SCENARIOS[args.scenario]
    ctx.console.print(f"[bold]{scenario.name}[/]: {scenario.summary}")
    try:
        async with asyncio.timeout(args.time_limit + TEARDOWN_GRACE):
            result = await scenario.run(ctx)
    except Exception as exc:  # noqa: BLE001 - a failed run still writes its report
        logger.debug("scenario failed", exc_info=True)
        ctx.notes.append(f"failed: {type(exc).__name__}: {exc}"[:500])
        ctx.notes.append(traceback.format_exc(limit=3)[-800:])
        result = {"status": "failed", "capacity": dict(EMPTY_CAPACITY)}
    capacity = {**EMPTY_CAPACITY, **result["capacity"]}
    report = build_report(
        scenario=scenario.name, status=result["status"], hub=ctx.hub_meta or {
            "version": None, "url": args.hub, "started_here": not args.hub, "pid": None},
        machine=machine, parameters=parameters(args), limits=ctx.limits,
        started_at=started, steps=ctx.steps, capacity=capacity,
        comparison=ctx.comparison, notes=ctx.notes, plots=ctx.plots)
    write_report(args.out, report)
    return report
