"""What every scenario gets: its knobs, the hub (started here or given), the camera clips,
a /proc monitor of the hub, rich progress, and the steps/notes that become the report."""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from .hubproc import HubHandle, hub_info, started_hub, wait_healthy
from .monitor import ProcMonitor


class RunContext:
    def __init__(self, args: argparse.Namespace, out: Path, work: Path,
                 console: Console | None = None) -> None:
        self.args = args
        self.out = out
        self.work = work
        self.clip_dir: Path = args.clip_dir
        self.started = time.monotonic()
        self.deadline = self.started + args.time_limit
        self.console = console or Console(stderr=True)
        self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                                 TextColumn("{task.completed}/{task.total}"),
                                 TimeElapsedColumn(), console=self.console, transient=False)
        self.steps: list[dict] = []
        self.notes: list[str] = []
        self.plots: list[str] = []
        self.hub_meta: dict = {}
        self.monitor: ProcMonitor | None = None
        self.comparison: dict | None = None

    # -- limits and time ------------------------------------------------------------------

    @property
    def limits(self) -> dict:
        return {"loss": self.args.loss_limit, "latency_ms": self.args.latency_limit_ms,
                "cpu_cores": self.args.cpu_limit, "time_limit_s": self.args.time_limit}

    def time_left(self) -> float:
        return self.deadline - time.monotonic()

    def check(self, step: dict) -> str | None:
        """The first limit ``step`` breaks (``None`` when within all of them)."""
        if step.get("failed"):
            return f"{step['failed']} viewers failed"
        if (step.get("loss") or 0) > self.args.loss_limit:
            return f"loss {step['loss']:.3%} > {self.args.loss_limit:.1%}"
        delay = step.get("delay_p95_ms")
        if delay is not None and delay > self.args.latency_limit_ms:
            return f"delay p95 {delay:.0f} ms > {self.args.latency_limit_ms:.0f} ms"
        first = step.get("first_frame_p95_ms")
        if first is not None and first > self.args.latency_limit_ms * 4:
            return f"first frame p95 {first:.0f} ms > {self.args.latency_limit_ms * 4:.0f} ms"
        cpu = step.get("hub_cpu_cores")
        if cpu is not None and cpu > self.args.cpu_limit:
            return f"hub CPU {cpu:.2f} cores > {self.args.cpu_limit}"
        return None

    def step(self, record: dict) -> dict:
        record = {"step": len(self.steps) + 1, **record, "within_limits": None}
        reason = self.check(record)
        record["within_limits"] = reason is None
        record["limit_hit"] = reason
        self.steps.append(record)
        if self.monitor is not None:
            label = ", ".join(f"{k}={record[k]}" for k in ("streams", "viewers")
                              if record.get(k) is not None)
            self.monitor.mark(label)
        verdict = "[green]ok" if reason is None else f"[red]{reason}"
        self.console.print(f"  step {len(self.steps)}: {_brief(record)} {verdict}")
        return record

    # -- the hub --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def hub(self, *, extra: dict | None = None, netns: str | None = None,
                  http_host: str = "127.0.0.1", host_addresses: list[str] | None = None,
                  sources: list[dict] = ()):
        """The hub under test (``--hub`` or a fresh subprocess), monitored from /proc."""
        if self.args.hub:
            handle = HubHandle(url=self.args.hub.rstrip("/"), pid=self.args.hub_pid,
                               token_value=self.args.token)
            await wait_healthy(handle.url, 10)
            async with self._monitored(handle, started_here=False):
                yield handle
            return
        # --relay aiortc: the per-viewer aiortc sender, for before/after comparisons
        relay = getattr(self.args, "relay", "fast")
        extra = {**(extra or {})}
        extra["webrtc"] = {**extra.get("webrtc", {}), "fast_relay": relay == "fast"}
        async with started_hub(self.work, extra=extra, netns=netns, http_host=http_host,
                               host_addresses=host_addresses, sources=sources) as handle, \
                self._monitored(handle, started_here=True):
            yield handle

    @contextlib.asynccontextmanager
    async def _monitored(self, handle: HubHandle, *, started_here: bool):
        info = await hub_info(handle)
        self.hub_meta = {"version": info.get("version"), "url": handle.url,
                         "started_here": started_here, "pid": handle.pid,
                         "auth_mode": info.get("auth_mode")}
        if handle.pid is None:
            self.notes.append("hub CPU and memory not measured: give --hub-pid for a hub "
                              "on this machine")
        self.monitor = ProcMonitor(handle.pid)
        self.monitor.start()
        try:
            yield
        finally:
            await self.monitor.aclose()


def _brief(record: dict) -> str:
    keys = ("streams", "viewers", "hub_cpu_cores", "loss", "fps_min", "delay_p95_ms",
            "first_frame_p95_ms", "cpu_us_per_packet")
    return " ".join(f"{k}={record[k]}" for k in keys if record.get(k) is not None)
