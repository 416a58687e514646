"""Push swarm: simulated body-cams publishing a pre-encoded clip with ffmpeg (``-c copy``, no
encoding) over RTSP (ANNOUNCE/RECORD) or RTMP, each connecting for a random lifetime, hanging
up and reconnecting, until a deadline. Every session is bounded by ffmpeg's own ``-t``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

PROTOCOLS = ("rtsp", "rtmp")
#: a session that ends sooner than this with an error counts as refused
EARLY_EXIT = 2.0
STDERR_TAIL = 600
_TOKEN = re.compile(r"token=[^\s&:'\"]+")


def scrub(text: str) -> str:
    """Hide publish tokens in ffmpeg's messages (they may quote the URL)."""
    return _TOKEN.sub("token=***", text)


def publish_url(protocol: str, host: str, port: int, source_id: str, token: str | None,
                app: str = "live") -> str:
    query = f"?token={token}" if token else ""
    if protocol == "rtsp":
        return f"rtsp://{host}:{port}/{source_id}{query}"
    if protocol == "rtmp":
        return f"rtmp://{host}:{port}/{app}/{source_id}{query}"
    raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")


def publisher_command(protocol: str, clip: Path, url: str, seconds: float,
                      ffmpeg: str = "ffmpeg") -> list[str]:
    """ffmpeg pushing ``clip`` in real time, looped, copied (no encode), for ``seconds``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {PROTOCOLS}, not {protocol!r}")
    if not 0 < seconds <= 3600:
        raise ValueError("a publishing session lasts (0, 3600] seconds")
    out = ["-f", "rtsp", "-rtsp_transport", "tcp"] if protocol == "rtsp" else ["-f", "flv"]
    return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "error", "-re",
            "-stream_loop", "-1", "-i", str(clip), "-map", "0:v:0", "-c", "copy",
            "-t", f"{seconds:.1f}", *out, url]


@dataclass
class PublisherStats:
    source_id: str
    protocol: str
    sessions: int = 0
    refused: int = 0
    failed: int = 0
    completed: int = 0
    seconds_published: float = 0.0
    last_error: str = ""
    errors: list[str] = field(default_factory=list)


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
        started = loop.time()
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
            self.stats.completed += 1
            self.stats.seconds_published += took
            return
        message = scrub(err.decode(errors="replace").strip()[-STDERR_TAIL:]) \
            or f"exit {proc.returncode}"
        self.stats.last_error = message
        if len(self.stats.errors) < 3:
            self.stats.errors.append(message)
        if took < EARLY_EXIT:
            self.stats.refused += 1
        else:
            self.stats.failed += 1
            self.stats.seconds_published += took

    async def run(self, deadline: float) -> None:
        """Sessions until ``deadline`` (event-loop time); none starts past it."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(self._rng.uniform(0, 1.5))
        while (left := deadline - loop.time()) > 2:
            await self.session(min(left, self._rng.uniform(self.min_s, self.max_s)))
            await asyncio.sleep(self._rng.uniform(0.2, 1.0))


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
