"""Samples the hub's CPU and memory from ``/proc`` once a second for the plots, and measures
CPU over an interval for the numbers."""

from __future__ import annotations

import asyncio
import contextlib
import time

from .procstat import ProcSample, cpu_between, read_proc

#: samples kept (one per second: an hour)
MAX_SAMPLES = 3600


class ProcMonitor:
    """Owns one sampling task; ``series`` holds (seconds since start, cores, RSS MiB)."""

    def __init__(self, pid: int | None, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.series: list[tuple[float, float, float]] = []
        self.marks: list[tuple[float, str]] = []
        self._t0 = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> ProcSample | None:
        if self.pid is None:
            return None
        try:
            return read_proc(self.pid)
        except (OSError, ValueError, IndexError):
            return None

    def mark(self, label: str) -> None:
        self.marks.append((round(time.monotonic() - self._t0, 1), label))

    async def _run(self) -> None:
        last = self.sample()
        while len(self.series) < MAX_SAMPLES:
            await asyncio.sleep(self.interval)
            now = self.sample()
            if last is not None and now is not None:
                self.series.append((round(now.at - self._t0, 2),
                                    round(cpu_between(last, now), 3),
                                    round(now.rss / 2**20, 1)))
            last = now

    def start(self) -> None:
        if self.pid is not None and self._task is None:
            self._task = asyncio.create_task(self._run(), name="proc-monitor")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
