"""Evidence for alerts on sources nobody records: manual alarms (一键报警, the API, an
operator) on a camera without analytics, or a phone whose stream is not sampled.

:meth:`OnDemandEvidence.collect` subscribes to the source (starting a pulled camera on
demand; a pushed source must have its publisher), feeds the recorder until the clip is
written, and attaches the snapshot and the clip to the alert as each file exists. Where the
stream was already active the subscription starts with the stream's cached GOP, so the clip
has a pre-roll back to the last keyframe; from an idle camera it starts at the first keyframe.
When no picture comes, the alert records why (``evidence_error``) instead of pointing at files
that do not exist.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from mediaserver.core.subscriber import SubscriberClosed

from .evidence import write_snapshot

logger = logging.getLogger(__name__)

#: Seconds to wait for the first keyframe of a source that was not streaming.
KEYFRAME_TIMEOUT = 10.0


class OnDemandEvidence:
    def __init__(self, service: Any, keyframe_timeout: float = KEYFRAME_TIMEOUT) -> None:
        self.service = service
        self.keyframe_timeout = keyframe_timeout
        self.collected = 0
        self.failed = 0

    async def collect(self, source_id: str, alert_id: str, kind: str, snap_rel: str,
                      clip_rel: str, *, snapshot_done: bool = False) -> None:
        svc = self.service
        try:
            sub = await svc.manager.subscribe(source_id, f"evidence-{alert_id}")
        except Exception as exc:  # noqa: BLE001 - the alert stays, with the reason
            await self._unavailable(alert_id, f"source not available: {exc}")
            return
        feeder = asyncio.create_task(self._feed(source_id, sub), name=f"evidence-{alert_id}")
        try:
            if not await svc.manager.wait_ready(source_id, self.keyframe_timeout):
                await self._unavailable(alert_id, "no picture from the source within "
                                        f"{self.keyframe_timeout:.0f} s")
                return
            image = None if snapshot_done else \
                await svc._latest_picture(source_id)  # noqa: SLF001 - same service
            if image is not None:
                await asyncio.to_thread(write_snapshot, svc.data_dir, snap_rel, image, kind, [])
                await svc.store.change(alert_id, "updated", snapshot=snap_rel)
            clip = await self._start_clip(source_id, svc.data_dir / clip_rel)
            if clip is None:
                await self._unavailable(alert_id, "the stream gave no clip")
                return
            try:
                await clip
            except Exception as exc:  # noqa: BLE001
                await self._unavailable(alert_id, f"clip failed: {exc}")
                return
            await svc.store.change(alert_id, "updated", clip=clip_rel)
            self.collected += 1
        finally:
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            svc.manager.unsubscribe(sub)
            if source_id not in svc.samplers:
                svc.recorder.drop(source_id)

    async def _start_clip(self, source_id: str, path: Path) -> asyncio.Task[Path] | None:
        """The recorder's clip once the fed ring holds a keyframe (a few frames in)."""
        recorder = self.service.recorder
        for _ in range(50):
            task = recorder.start_clip(source_id, path)
            if task is not None:
                return task
            await asyncio.sleep(0.1)
        return None

    async def _feed(self, source_id: str, sub: Any) -> None:
        svc = self.service
        if source_id in svc.samplers:
            return  # the sampler feeds the recorder already
        while True:
            try:
                au = await sub.recv()
            except SubscriberClosed:
                return
            stream = svc.manager.stream(source_id)
            svc.recorder.feed(source_id, au, stream.track if stream else None)

    async def _unavailable(self, alert_id: str, reason: str) -> None:
        self.failed += 1
        logger.info("alert %s: no evidence: %s", alert_id, reason)
        await self.service.store.change(alert_id, "updated", evidence_error=reason[:300])
