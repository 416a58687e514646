"""Runs WHIP push publishers (:mod:`loadtests.whip_swarm`) in one or more worker processes,
like the viewer swarm (:mod:`loadtests.swarm_run`): ``start()`` spawns them and waits until
each has loaded its clip and connected its status socket, ``run(seconds)`` lets them churn
together and returns their :class:`~loadtests.push_stats.PublisherStats`, ``aclose()``
kills whatever is left.

    swarm = WhipSwarm(publishers, clip=path, churn_min=4, churn_max=12,
                      events_url=f"{hub.url.replace('http', 'ws', 1)}/api/v1/events",
                      events_token=hub.token("viewer"))
    await swarm.start(60)
    try:
        stats = await swarm.run(60)
    finally:
        await swarm.aclose()
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path

from .procs import ROOT
from .procstat import ProcSample, read_proc
from .push_stats import PublisherStats
from .swarm_run import split

#: publishers per worker process before another one is started (at most MAX_WORKERS)
PUBLISHERS_PER_WORKER = 16
MAX_WORKERS = 4
#: seconds for a worker to load its clip and connect its status socket
READY_TIMEOUT = 60.0
#: seconds past the churn duration for the last sessions to end and report
END_GRACE = 60.0


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ready = asyncio.Event()
        self.tail: list[bytes] = []
        #: the worker's own CPU when told to go and when its churn ended
        self.went: ProcSample | None = None
        self.done: ProcSample | None = None

    def sample(self) -> ProcSample | None:
        try:
            return read_proc(self.proc.pid)
        except (OSError, ValueError, IndexError):
            return None

    async def read_events(self) -> None:
        assert self.proc.stderr is not None
        while line := await self.proc.stderr.readline():
            if b'"event": "ready"' in line:
                self.ready.set()
            elif b'"event": "done"' in line:
                self.done = self.sample()
            else:
                self.tail = (self.tail + [line])[-20:]
        self.ready.set()  # a worker that died must not block the others


class WhipSwarm:
    def __init__(self, publishers: Sequence[dict], *, clip: Path, churn_min: float,
                 churn_max: float, events_url: str | None = None,
                 events_token: str | None = None,
                 host_addresses: Sequence[str] = ("127.0.0.1",), seed: int = 0,
                 workers: int | None = None) -> None:
        """``publishers``: ``{"source_id", "url", "token"}`` each (URLs from
        :func:`loadtests.push_swarm.publish_url`)."""
        if not publishers:
            raise ValueError("a WHIP swarm needs at least one publisher")
        self.publishers = list(publishers)
        self.workers_wanted = workers or min(
            MAX_WORKERS, math.ceil(len(self.publishers) / PUBLISHERS_PER_WORKER))
        self._common = {"clip": str(clip), "churn_min": churn_min, "churn_max": churn_max,
                        "events_url": events_url, "events_token": events_token,
                        "host_addresses": list(host_addresses), "sync": True}
        self._seed = seed
        self._workers: list[_Worker] = []
        self._readers: list[asyncio.Task] = []
        #: totals of the workers' reports (frames and bytes sent, watcher state)
        self.totals: dict = {}

    async def start(self, seconds: float) -> None:
        """Spawn the workers for a churn of ``seconds`` and wait until all are ready."""
        offset = 0
        for index, share in enumerate(split(len(self.publishers), self.workers_wanted)):
            mine = self.publishers[offset:offset + share]
            offset += share
            spec = {**self._common, "duration": seconds, "seed": self._seed * 100 + index,
                    "publishers": mine}
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "loadtests.whip_swarm", cwd=ROOT,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
            worker = _Worker(proc)
            self._workers.append(worker)
            self._readers.append(asyncio.create_task(worker.read_events()))
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(spec).encode() + b"\n")
            await proc.stdin.drain()
        async with asyncio.timeout(READY_TIMEOUT):
            await asyncio.gather(*(w.ready.wait() for w in self._workers))
        dead = [w for w in self._workers if w.proc.returncode is not None]
        if dead:
            raise RuntimeError("WHIP swarm worker failed to start: " + _tail(dead[0]))

    async def run(self, seconds: float) -> list[PublisherStats]:
        """Say go, wait for every worker's report (bounded), return all publishers' stats."""
        for w in self._workers:
            assert w.proc.stdin is not None
            w.went = w.sample()
            w.proc.stdin.write(b"go\n")
            await w.proc.stdin.drain()
            w.proc.stdin.close()
        async with asyncio.timeout(seconds + END_GRACE):
            outs = await asyncio.gather(*(w.proc.stdout.read() for w in self._workers))
            await asyncio.gather(*(w.proc.wait() for w in self._workers))
            await asyncio.wait(self._readers, timeout=5)  # their "done" samples
        stats: list[PublisherStats] = []
        totals: dict = {"frames_sent": 0, "bytes_sent": 0, "watchers": []}
        for w, out in zip(self._workers, outs, strict=True):
            if w.proc.returncode != 0 or not out.strip():
                raise RuntimeError(f"WHIP swarm worker exited {w.proc.returncode}: "
                                   + _tail(w))
            report = json.loads(out)
            stats += [PublisherStats(**p) for p in report["publishers"]]
            totals["frames_sent"] += report["frames_sent"]
            totals["bytes_sent"] += report["bytes_sent"]
            totals["watchers"].append(report["watcher"])
            totals["clip"] = report["clip"]
        totals["workers"] = len(self._workers)
        spans = [(w.went, w.done) for w in self._workers if w.went and w.done]
        totals["worker_cpu_s"] = round(sum(b.cpu_s - a.cpu_s for a, b in spans), 2) \
            if len(spans) == len(self._workers) else None
        totals["worker_wall_s"] = round(max((b.at - a.at for a, b in spans), default=0), 2)
        self.totals = totals
        return stats

    async def aclose(self) -> None:
        for w in self._workers:
            if w.proc.returncode is None:
                w.proc.kill()
                await w.proc.wait()
        for task in self._readers:
            task.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        self._readers.clear()


def _tail(worker: _Worker) -> str:
    return b"".join(worker.tail).decode(errors="replace")[-800:]
