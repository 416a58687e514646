"""Runs the viewer swarm (:mod:`loadtests.swarm`) as one or more child processes (so the
viewers can use every core) that hold together, and measures the server's CPU from
``/proc`` exactly over the common hold period."""

from __future__ import annotations

import asyncio
import json
import math
import os
import sys

from .procstat import ProcSample, cpu_between, read_proc
from .swarm import FIRST_FRAME_TIMEOUT, summarize

#: viewers per worker process before another one is started (at most MAX_WORKERS)
VIEWERS_PER_WORKER = 12
MAX_WORKERS = 4


def _sample(pid: int | None) -> ProcSample | None:
    if pid is None:
        return None
    try:
        return read_proc(pid)
    except (OSError, ValueError, IndexError):
        return None


def split(count: int, workers: int) -> list[int]:
    """``count`` viewers over ``workers`` processes, as evenly as possible."""
    workers = max(1, min(workers, count))
    return [count // workers + (1 if i < count % workers else 0) for i in range(workers)]


class _Worker:
    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.ready = asyncio.Event()
        self.held = asyncio.Event()
        self.tail: list[bytes] = []

    async def read_events(self) -> None:
        while line := await self.proc.stderr.readline():
            if b'"event": "ready"' in line:
                self.ready.set()
            elif b'"event": "held"' in line:
                self.held.set()
            elif b'"event": "holding"' not in line:
                self.tail = (self.tail + [line])[-20:]
        self.ready.set()  # a worker that died must not block the others
        self.held.set()


async def run_swarm(target: list[str], *, count: int, duration: float, join_window: float,
                    server_pid: int | None, token: str | None = None,
                    host_addresses: tuple[str, ...] = ("127.0.0.1",),
                    netns: str | None = None, seed: int = 0,
                    workers: int | None = None) -> dict:
    """``target``: ``["--whep", URL, ...]`` or ``["--janus", URL, "--mountpoint", "1"]``.
    Returns the swarm's summary plus ``server_cpu_cores``, ``server_cpu_s``,
    ``server_rss_bytes`` and ``cpu_us_per_packet`` for the hold period."""
    workers = workers or min(MAX_WORKERS, math.ceil(count / VIEWERS_PER_WORKER))
    env = {**os.environ, **({"FH_LOADTEST_TOKEN": token} if token else {})}
    procs: list[_Worker] = []
    for index, share in enumerate(split(count, workers)):
        cmd = [sys.executable, "-m", "loadtests.swarm", *target, "--count", str(share),
               "--duration", str(duration), "--join-window", str(join_window),
               "--seed", str(seed * 100 + index), "--sync"]
        for address in host_addresses:
            cmd += ["--host-address", address]
        if netns:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        procs.append(_Worker(await asyncio.create_subprocess_exec(
            *cmd, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=env)))
    readers = [asyncio.create_task(w.read_events()) for w in procs]
    limit = join_window + FIRST_FRAME_TIMEOUT + duration + 60 + count * 0.5
    try:
        async with asyncio.timeout(limit):
            await asyncio.gather(*(w.ready.wait() for w in procs))
            begin = _sample(server_pid)
            for w in procs:
                if w.proc.returncode is None:
                    w.proc.stdin.write(b"go\n")
                    await w.proc.stdin.drain()
            await asyncio.gather(*(w.held.wait() for w in procs))
            end = _sample(server_pid)
            outs = await asyncio.gather(*(w.proc.stdout.read() for w in procs))
            await asyncio.gather(*(w.proc.wait() for w in procs))
    finally:
        for w in procs:
            if w.proc.returncode is None:
                w.proc.kill()
                await w.proc.wait()
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    results = []
    for w, out in zip(procs, outs, strict=True):
        if w.proc.returncode != 0 or not out.strip():
            raise RuntimeError("viewer swarm failed: "
                               + b"".join(w.tail).decode(errors="replace")[-800:])
        results.append(json.loads(out))
    result = summarize([v for r in results for v in r["per_viewer"]],
                       join_s=max(r["join_s"] for r in results),
                       held_s=max(r["held_s"] for r in results))
    result["workers"] = len(procs)
    result["server_cpu_cores"] = result["server_cpu_s"] = result["cpu_us_per_packet"] = None
    result["server_rss_bytes"] = end.rss if end else None
    if begin is not None and end is not None:
        result["server_cpu_cores"] = round(cpu_between(begin, end), 4)
        result["server_cpu_s"] = round(end.cpu_s - begin.cpu_s, 3)
        if result["packets"]:
            result["cpu_us_per_packet"] = round(result["server_cpu_s"] * 1e6
                                                / result["packets"], 2)
    return result
