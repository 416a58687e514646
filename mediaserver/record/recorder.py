"""Per-source pre-roll rings and clip jobs (pre-roll + post-roll, remuxed to fMP4).

The owner of a source's subscription calls :meth:`Recorder.feed` for every access unit;
:meth:`Recorder.start_clip` begins a clip with the ring's content (from a keyframe) and keeps
appending live access units until ``post_roll`` seconds of stream time have passed (or the
wall-clock deadline, when the source stalls). Writing happens in a thread, one batch per
fragment, so a crash leaves the temporary file playable up to its last fragment.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from pathlib import Path

from mediaserver.errors import ClipError

from ..config.analytics import EvidenceConfig
from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from .clip import ClipWriter
from .ring import PreRollRing

logger = logging.getLogger(__name__)

#: A clip job buffers at most this many access units between fragment writes.
JOB_QUEUE = 2000
#: Extra wall-clock seconds a clip waits for a stalled source before closing short.
STALL_GRACE = 5.0


class ClipJob:
    def __init__(self, source_id: str, path: Path, initial: list[AccessUnit], end_dts: int,
                 config: EvidenceConfig) -> None:
        self.source_id = source_id
        self.path = path
        self._initial = initial
        self.end_dts = end_dts
        self._config = config
        self._queue: collections.deque[AccessUnit] = collections.deque()
        self._wake = asyncio.Event()
        self._resync = False  # after a drop: wait for a keyframe, the next pictures need it
        self.dropped = 0
        self.done = False

    def offer(self, au: AccessUnit) -> None:
        if self.done:
            return
        if self._resync and not au.keyframe:
            self.dropped += 1
            return
        if len(self._queue) >= JOB_QUEUE:
            self.dropped += 1
            self._resync = True
            return
        self._resync = False
        self._queue.append(au)
        self._wake.set()

    async def run(self, track: VideoTrack) -> Path:
        writer = await asyncio.to_thread(ClipWriter, self.path, track,
                                         fragment=self._config.fragment)
        deadline = time.monotonic() + self._config.post_roll + STALL_GRACE
        try:
            await asyncio.to_thread(writer.write, self._initial)
            self._initial = []
            finished = False
            while not finished and time.monotonic() < deadline:
                try:
                    async with asyncio.timeout(max(0.05, deadline - time.monotonic())):
                        await self._wake.wait()
                except TimeoutError:
                    break
                self._wake.clear()
                await asyncio.sleep(self._config.fragment / 2)  # collect about a fragment
                batch = []
                while self._queue:
                    au = self._queue.popleft()
                    if au.dts > self.end_dts:
                        finished = True
                        break
                    batch.append(au)
                if batch:
                    await asyncio.to_thread(writer.write, batch)
                if writer.bytes >= self._config.max_clip_bytes:
                    logger.warning("[%s] clip %s reached %d bytes, cut short", self.source_id,
                                   self.path.name, writer.bytes)
                    break
            self.done = True
            path = await asyncio.to_thread(writer.close)
        except asyncio.CancelledError:
            # shutdown: keep what was recorded (closed, fsynced, renamed), then stop
            self.done = True
            try:
                await asyncio.to_thread(writer.close)
            except ClipError:
                pass
            raise
        except BaseException:
            self.done = True
            await asyncio.to_thread(writer.abort)
            raise
        logger.info("[%s] clip %s written: %.1f s, %d frames", self.source_id, path.name,
                    writer.seconds, writer.frames)
        return path


class _Source:
    __slots__ = ("ring", "track", "jobs")

    def __init__(self, config: EvidenceConfig) -> None:
        self.ring = PreRollRing(config.pre_roll, config.ring_bytes)
        self.track: VideoTrack | None = None
        self.jobs: list[ClipJob] = []


class Recorder:
    def __init__(self, config: EvidenceConfig) -> None:
        self.config = config
        self._sources: dict[str, _Source] = {}
        self._tasks: set[asyncio.Task[Path]] = set()
        self.clips_written = 0
        self.clips_failed = 0

    def feed(self, source_id: str, au: AccessUnit, track: VideoTrack | None) -> None:
        src = self._sources.get(source_id)
        if src is None:
            src = self._sources[source_id] = _Source(self.config)
        if track is not None:
            src.track = track
        src.ring.add(au)
        for job in src.jobs:
            job.offer(au)

    def has(self, source_id: str) -> bool:
        src = self._sources.get(source_id)
        return src is not None and src.track is not None and bool(src.ring.snapshot())

    def drop(self, source_id: str) -> None:
        self._sources.pop(source_id, None)

    def start_clip(self, source_id: str, path: Path) -> asyncio.Task[Path] | None:
        """Begin a clip of ``source_id`` at ``path``; None when there is nothing recorded."""
        src = self._sources.get(source_id)
        if src is None or src.track is None:
            return None
        initial = src.ring.snapshot()
        if not initial:
            return None
        end_dts = initial[-1].dts + int(self.config.post_roll * VIDEO_CLOCK_RATE)
        job = ClipJob(source_id, path, initial, end_dts, self.config)
        src.jobs.append(job)
        task = asyncio.create_task(self._run(src, job, src.track), name=f"clip-{source_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, src: _Source, job: ClipJob, track: VideoTrack) -> Path:
        try:
            path = await job.run(track)
            self.clips_written += 1
            return path
        except ClipError:
            self.clips_failed += 1
            raise
        finally:
            if job in src.jobs:
                src.jobs.remove(job)

    async def aclose(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
