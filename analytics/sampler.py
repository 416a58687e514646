"""Keyframe sampling of one source: newest keyframe only, decoded off the loop, letterboxed.

One :class:`SourceSampler` per enabled source holds a subscription of the Stream (so the
upstream stays open although nobody watches), feeds every access unit to the recorder's
pre-roll ring, and every ``interval`` seconds (÷ ``boost`` after a recent positive) asks the
global budget for a token, decodes ``stream.latest_keyframe()`` in a thread and hands the
letterboxed picture to the detector. Skips are counted by reason.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from PIL import Image

from mediaserver.core.access_unit import AccessUnit
from mediaserver.errors import SnapshotError, SourceNotFound, SubscriberClosed
from mediaserver.transcode.keyframe import decode_keyframe

from .detector.preprocess import letterbox

logger = logging.getLogger(__name__)

#: Seconds before a sampler whose stream was stopped subscribes again.
RESUBSCRIBE_AFTER = 1.0


def decode_sample(au: AccessUnit, parameter_sets: tuple[bytes, ...],
                  size: tuple[int, int]) -> tuple[Image.Image, Any, Any]:
    """Blocking: keyframe → (RGB picture, letterboxed array, Letterbox)."""
    frame = decode_keyframe(au, parameter_sets=parameter_sets)
    image = frame.to_image()
    array, box = letterbox(image, size)
    return image, array, box


class SourceSampler:
    def __init__(self, service: Any, source_id: str, interval: float) -> None:
        self.service = service
        self.source_id = source_id
        self.interval = interval
        self.boosted_until = 0.0
        self.skipped: collections.Counter[str] = collections.Counter()
        self.sampled = 0
        self._last_keyframe: AccessUnit | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._sub = None
        self._boosted = asyncio.Event()

    async def start(self) -> None:
        self._sub = await self.service.manager.subscribe(self.source_id, "analytics")
        self._tasks = [
            asyncio.create_task(self._feed(), name=f"analytics-feed-{self.source_id}"),
            asyncio.create_task(self._sample_loop(), name=f"sampler-{self.source_id}")]

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks = []
        if self._sub is not None:
            self.service.manager.unsubscribe(self._sub)
            self._sub = None

    async def _feed(self) -> None:
        recorder = self.service.recorder
        manager = self.service.manager
        while True:
            try:
                au = await self._sub.recv()
            except SubscriberClosed:
                # the stream was stopped (source reconfigured): subscribe again, so sampling
                # keeps the upstream open; aclose() cancels this task first
                await asyncio.sleep(RESUBSCRIBE_AFTER)
                try:
                    self._sub = await manager.subscribe(self.source_id, "analytics")
                except SourceNotFound:
                    logger.info("[%s] source gone: sampling stops", self.source_id)
                    return
                continue
            stream = manager.stream(self.source_id)
            recorder.feed(self.source_id, au, stream.track if stream else None)

    def current_interval(self, now: float) -> float:
        if now < self.boosted_until:
            return self.interval / self.service.config.boost
        return self.interval

    async def _sample_loop(self) -> None:
        while True:
            # a boost (positive result) cuts the current wait short
            try:
                async with asyncio.timeout(self.current_interval(time.monotonic())):
                    await self._boosted.wait()
                await asyncio.sleep(self.current_interval(time.monotonic()))
            except TimeoutError:
                pass
            self._boosted.clear()
            try:
                await self.sample_once()
            except SnapshotError as exc:
                self.skipped["undecodable"] += 1
                logger.warning("[%s] sample skipped: %s", self.source_id, exc)

    async def sample_once(self) -> bool:
        svc = self.service
        stream = svc.manager.stream(self.source_id)
        au = stream.latest_keyframe() if stream is not None else None
        if au is None or stream is None or stream.track is None:
            self.skipped["no_keyframe"] += 1
            return False
        if au is self._last_keyframe:
            self.skipped["same_keyframe"] += 1
            return False
        if not svc.budget.try_acquire(self.source_id, len(svc.samplers)):
            self.skipped["budget"] += 1
            return False
        self._last_keyframe = au
        image, array, box = await asyncio.to_thread(
            decode_sample, au, stream.track.parameter_sets, svc.input_size)
        if not svc.submit(self.source_id, image, array, box):
            self.skipped["queue_full"] += 1
            return False
        self.sampled += 1
        return True

    def boost(self, now: float) -> None:
        if now >= self.boosted_until:
            self._boosted.set()
        self.boosted_until = now + self.service.config.boost_for


SamplerFactory = Callable[[str, float], SourceSampler]
