"""Push swarm: simulated body-cams publishing a pre-encoded clip with ffmpeg (``-c copy``, no
encoding) over RTSP (ANNOUNCE/RECORD) or RTMP, each connecting for a random lifetime, hanging
up and reconnecting, until a deadline (:func:`churn`). Every session is bounded by ffmpeg's own
``-t``. WHIP publishers (aiortc, in worker processes) follow the same churn:
:mod:`loadtests.whip_publisher`, :mod:`loadtests.whip_run`. Results: :mod:`loadtests.push_stats`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from .push_stats import EARLY_EXIT, PublisherStats, classify, record

logger = logging.getLogger(__name__)

PROTOCOLS = ("rtsp", "rtmp", "whip")
#: the protocols ffmpeg publishes (WHIP publishers are aiortc peers)
FFMPEG_PROTOCOLS = ("rtsp", "rtmp")
STDERR_TAIL = 600
__all__ = ["EARLY_EXIT", "FFMPEG_PROTOCOLS", "PROTOCOLS", "PublisherStats", "PushPublisher",
           "PushSwarm", "churn", "publish_url", "publisher_command", "scrub"]
_TOKEN = re.compile(r"token=[^\s&:'\"]+")


def scrub(text: str) -> str:
    """Hide publish tokens in ffmpeg's messages (they may quote the URL)."""
    return _TOKEN.sub("token=***", text)


def publish_url(protocol: str, host: str, port: int, source_id: str, token: str | None,
                app: str = "live") -> str:
    """Where a body-cam publishes; for WHIP ``port`` is the hub's HTTP port and the token
    goes in a header, never in the URL."""
    if protocol == "whip":
        return f"http://{host}:{port}/whip/{source_id}"
    query = f"?token={token}" if token else ""
    if protocol == "rtsp":
        return f"rtsp://{host}:{port}/{source_id}{query}"
    if protocol == "rtmp":
        return f"rtmp://{host}:{port}/{app}/{source_id}{query}"
    raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")


def publisher_command(protocol: str, clip: Path, url: str, seconds: float,
                      ffmpeg: str = "ffmpeg") -> list[str]:
    """ffmpeg pushing ``clip`` in real time, looped, copied (no encode), for ``seconds``."""
    if protocol not in FFMPEG_PROTOCOLS:
        raise ValueError(f"ffmpeg protocol must be one of {FFMPEG_PROTOCOLS}, not {protocol!r}")
    if not 0 < seconds <= 3600:
        raise ValueError("a publishing session lasts (0, 3600] seconds")
    out = ["-f", "rtsp", "-rtsp_transport", "tcp"] if protocol == "rtsp" else ["-f", "flv"]
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            "-stream_loop", "-1", "-i", str(clip), "-map", "0:v:0", "-c", "copy",
            "-t", f"{seconds:.1f}", *out, url]


async def churn(session: Callable[[float], Awaitable[object]], deadline: float,
                rng: random.Random, min_s: float, max_s: float) -> None:
    """Sessions of random length in ``[min_s, max_s]`` with short pauses between, until
    ``deadline`` (event-loop time); none starts past it, none is longer than what is left."""
    loop = asyncio.get_running_loop()
    await asyncio.sleep(rng.uniform(0, 1.5))
    while (left := deadline - loop.time()) > 2:
        await session(min(left, rng.uniform(min_s, max_s)))
        await asyncio.sleep(rng.uniform(0.2, 1.0))


class PushPublisher:
    """One body-cam: sessions of random length in ``[min_s, max_s]``, short pauses between."""

    def __init__(self, source_id: str, protocol: str, url: str, clip: Path, *,
                 min_s: float, max_s: float, rng: random.Random,
                 spawn: Callable[..., object] | None = None) -> None:
        self.stats = PublisherStats(source_id, protocol)
        self.url = url
        self.clip = clip
        self.min_s, self.max_s = min_s, max_s
        self._rng = rng
        self._spawn = spawn or asyncio.create_subprocess_exec

    async def session(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        cmd = publisher_command(self.stats.protocol, self.clip, self.url, seconds)
        started, wall = loop.time(), time.time()
        proc = await self._spawn(*cmd, stdout=asyncio.subprocess.DEVNULL,
                                 stderr=asyncio.subprocess.PIPE)
        self.stats.sessions += 1
        try:
            async with asyncio.timeout(seconds + 15):
                _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        took = loop.time() - started
        if proc.returncode == 0:
            outcome, status, message = "completed", None, None
        else:
            message = scrub(err.decode(errors="replace").strip()[-STDERR_TAIL:]) \
                or f"exit {proc.returncode}"
            status = classify(message, proc.returncode)
            # the server answered with an error status, or it broke at once: refused
            outcome = "refused" if took < EARLY_EXIT or status.isdigit() else "failed"
        self.stats.add(record(self.stats.protocol, self.stats.source_id, wall, wall + took,
                              seconds, outcome, status=status, error=message))

    async def run(self, deadline: float) -> None:
        """Sessions until ``deadline`` (event-loop time); none starts past it."""
        await churn(self.session, deadline, self._rng, self.min_s, self.max_s)


class PushSwarm:
    """Owns the publishers' tasks; ``run(seconds)`` returns when all have stopped."""

    def __init__(self, publishers: list[PushPublisher]) -> None:
        self.publishers = publishers

    async def run(self, seconds: float) -> list[PublisherStats]:
        deadline = asyncio.get_running_loop().time() + seconds
        tasks = [asyncio.create_task(p.run(deadline), name=f"push:{p.stats.source_id}")
                 for p in self.publishers]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)
        return [p.stats for p in self.publishers]
