"""Continuous recording of a hub node: one :class:`SourceRecorder` per source whose policy
records now, the index, retention, the free-space floor and on-alert triggers.

Built by the composition root; ``start()`` reconciles what a crash left open, starts the
recorders of the registry's sources and four loops it owns (weekly schedules, free space,
retention, the alert stream for on-alert sources); ``aclose()`` cancels and awaits them and
closes every open segment. The sources API calls :meth:`source_changed` after each write.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from redis.exceptions import RedisError

from ..config.recording import RecordingConfig, RecordingPolicy
from ..config.sources import SourceConfig
from ..core.manager import StreamManager
from .index import RecordingIndex
from .layout import Segment
from .policy import policy_for, retention_seconds, wanted_mode
from .retention import KeepWindows, Retention, RetentionReport
from .sink import SinkReport
from .source_recorder import SourceRecorder

logger = logging.getLogger(__name__)

LIST_CHUNK = 500
#: At most this many alerts are read to decide which segments retention keeps.
ALERT_SCAN_LIMIT = 20_000
ALERT_BLOCK_MS = 2000


class RecordingService:
    def __init__(self, config: RecordingConfig, *, data_dir: Path, manager: StreamManager,
                 registry: Any, redis: Any, prefix: str = "fh:") -> None:
        self.config = config
        self.root = Path(config.path or Path(data_dir) / "recordings")
        self.manager = manager
        self.registry = registry
        self.redis = redis
        self.prefix = prefix
        self.index = RecordingIndex(self.root, max_segment=max(3600.0, config.segment * 3))
        self.recorders: dict[str, SourceRecorder] = {}
        self._policies: dict[str, RecordingPolicy] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()
        self.paused = False
        self.free_bytes: int | None = None
        self.used_bytes = 0
        self.last_retention: RetentionReport | None = None
        self.stats: collections.Counter[str] = collections.Counter()
        self._retention = Retention(self.index, config, self._max_age)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        report = await asyncio.to_thread(self.index.reconcile)
        if report["repaired"] or report["removed"]:
            logger.info("recordings reconciled: %d open segments repaired, %d empty removed",
                        report["repaired"], report["removed"])
        self.stats["segments_repaired"] += report["repaired"]
        await self._check_disk()
        if self.config.enabled:
            for source in await self._all_sources():
                await self._apply(source)
        self._spawn(self._schedule_loop(), "recording-schedule")
        self._spawn(self._disk_loop(), "recording-disk")
        self._spawn(self._retention_loop(), "recording-retention")
        self._spawn(self._alerts_loop(), "recording-alerts")
        logger.info("recording: %d sources recorded into %s", len(self.recorders), self.root)

    def _spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        self._tasks.clear()
        recorders, self.recorders = list(self.recorders.values()), {}
        await asyncio.gather(*(r.aclose() for r in recorders), return_exceptions=True)

    async def _all_sources(self) -> list[SourceConfig]:
        ids = sorted(await self.registry.ids())
        found: list[SourceConfig] = []
        for i in range(0, len(ids), LIST_CHUNK):
            found += await self.registry.get_many(ids[i:i + LIST_CHUNK])
        return found

    # -- policies ---------------------------------------------------------------------------

    def policy(self, source: SourceConfig) -> RecordingPolicy:
        return policy_for(source, self.config)

    def _max_age(self, source_id: str) -> float:
        policy = self._policies.get(source_id, self.config.default)
        return retention_seconds(policy, self.config)

    async def source_changed(self, kind: str, source_id: str) -> None:
        """Hook for the sources API: start, restart or stop recording of ``source_id``."""
        if kind == "deleted":
            self._policies.pop(source_id, None)
            await self._stop(source_id)
            return
        source = await self.registry.get(source_id)
        if source is None:
            return
        if kind == "updated":
            await self._stop(source_id)  # the stream restarts with the new upstream
        await self._apply(source)

    async def _apply(self, source: SourceConfig) -> None:
        async with self._lock:
            policy = self.policy(source)
            self._policies[source.id] = policy
            mode = wanted_mode(policy) if self.config.enabled else "off"
            current = self.recorders.get(source.id)
            if current is not None and current.mode == mode:
                return
            if current is not None:
                await self._stop(source.id)
            if mode == "off":
                return
            recorder = SourceRecorder(source.id, self.manager, self.root, self.config,
                                      self._on_report, on_alert=mode == "on-alert")
            recorder.set_paused(self.paused)
            self.recorders[source.id] = recorder
            recorder.start()
            logger.info("[%s] recording %s", source.id, mode)

    async def _stop(self, source_id: str) -> None:
        recorder = self.recorders.pop(source_id, None)
        if recorder is not None:
            await recorder.aclose()
            self.index.set_open(source_id, None)
            logger.info("[%s] recording stopped", source_id)

    def _on_report(self, source_id: str, report: SinkReport) -> None:
        for segment in report.closed:
            self.index.add(source_id, segment)
            self.stats["segments"] += 1
            self.stats["bytes_written"] += segment.size
        self.stats["failures"] += report.failures
        self.stats["skipped"] += report.skipped
        self.index.set_open(source_id, report.open)

    # -- queries (for the API) ----------------------------------------------------------------

    async def segments(self, source_id: str, t0: float, t1: float) -> list[Segment]:
        return await asyncio.to_thread(self.index.segments, source_id, t0, t1)

    def state(self) -> str:
        if not self.config.enabled:
            return "disabled"
        return "paused_low_disk" if self.paused else "recording"

    def source_state(self, source_id: str) -> dict[str, Any]:
        recorder = self.recorders.get(source_id)
        policy = self._policies.get(source_id)
        return {"policy": policy.mode if policy is not None else "off",
                "mode": recorder.mode if recorder is not None else "off",
                "recording": bool(recorder is not None and recorder.recording
                                  and not self.paused),
                "node_state": self.state()}

    def status(self) -> dict[str, Any]:
        quota = self.config.retention.quota
        return {"state": self.state(), "sources": len(self.recorders),
                "writing": sum(1 for r in self.recorders.values() if r.recording),
                "free_bytes": self.free_bytes, "min_free_bytes": int(
                    self.config.retention.min_free),
                "used_bytes": self.used_bytes,
                "quota_bytes": int(quota) if quota is not None else None,
                "segments_written": self.stats["segments"],
                "bytes_written": self.stats["bytes_written"],
                "failures": self.stats["failures"]}

    # -- loops --------------------------------------------------------------------------------

    async def _schedule_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.schedule_check)
            if not self.config.enabled:
                continue
            scheduled = [sid for sid, p in self._policies.items() if p.mode == "schedule"]
            for source in await self.registry.get_many(scheduled) if scheduled else []:
                await self._apply(source)

    async def _disk_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.retention.disk_check)
            await self._check_disk()

    async def _check_disk(self) -> None:
        try:
            usage = await asyncio.to_thread(shutil.disk_usage, self.root)
        except OSError as exc:
            logger.warning("recordings folder %s unavailable: %s", self.root, exc)
            self.stats["failures"] += 1
            return
        self.free_bytes = usage.free
        floor = int(self.config.retention.min_free)
        resume = int(self.config.retention.resume_free or floor * 1.1)
        if not self.paused and usage.free < floor:
            self.paused = True
            self.stats["pauses"] += 1
            logger.error("recording paused on this node: %d bytes free on %s, under the floor "
                         "of %d", usage.free, self.root, floor)
        elif self.paused and usage.free >= resume:
            self.paused = False
            logger.warning("recording resumed: %d bytes free on %s", usage.free, self.root)
        else:
            return
        for recorder in self.recorders.values():
            recorder.set_paused(self.paused)

    async def _retention_loop(self) -> None:
        while True:
            try:
                await self.run_retention()
            except Exception:  # noqa: BLE001 - the next pass tries again
                logger.exception("retention pass failed")
                self.stats["failures"] += 1
            await asyncio.sleep(self.config.retention.interval)

    async def run_retention(self, now: float | None = None) -> RetentionReport:
        now = time.time() if now is None else now
        keep = await self.keep_windows(now)
        report = await asyncio.to_thread(self._retention.run, keep, now)
        self.stats["deleted_age"] += report.deleted_age
        self.stats["deleted_quota"] += report.deleted_quota
        self.stats["bytes_deleted"] += report.bytes_deleted
        self.used_bytes = report.used_bytes
        self.last_retention = report
        return report

    async def keep_windows(self, now: float) -> KeepWindows:
        """Per source, the windows around alerts that were not false alarms (from Redis)."""
        since = now - self.config.retention.alert_days * 86_400
        keep: KeepWindows = collections.defaultdict(list)
        try:
            ids = await self.redis.zrangebyscore(f"{self.prefix}alerts", since, "+inf",
                                                 start=0, num=ALERT_SCAN_LIMIT)
            for i in range(0, len(ids), LIST_CHUNK):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for alert_id in ids[i:i + LIST_CHUNK]:
                        pipe.hmget(f"{self.prefix}alert:{alert_id}", "source_id", "review",
                                   "raised_at", "resolved_at")
                    rows = await pipe.execute()
                for source_id, review, raised, resolved in rows:
                    if not source_id or review == "false_alarm" or not raised:
                        continue
                    start = float(raised) - self.config.pre_roll
                    end = max(float(raised), float(resolved or 0)) + self.config.post_roll
                    keep[source_id].append((start, end))
        except (RedisError, OSError, ValueError) as exc:
            # without the alerts nothing may be deleted that an alert might need
            logger.warning("retention: alerts unavailable (%s); pass skipped", exc)
            raise
        return keep

    async def _alerts_loop(self) -> None:
        stream = f"{self.prefix}events:alerts"
        last = "$"
        while True:
            try:
                reply = await self.redis.xread({stream: last}, count=100, block=ALERT_BLOCK_MS)
            except (RedisError, OSError) as exc:
                logger.debug("alert stream unavailable: %s", exc)
                await asyncio.sleep(2.0)
                continue
            for _key, entries in reply or ():
                for entry_id, fields in entries:
                    last = entry_id
                    self._on_alert(fields)

    def _on_alert(self, fields: dict[str, str]) -> None:
        if fields.get("event") not in ("raised", "updated"):
            return
        recorder = self.recorders.get(fields.get("source_id", ""))
        if recorder is None or recorder.mode != "on-alert":
            return
        try:
            raised = float(json.loads(fields.get("data", "{}")).get("raised_at") or time.time())
        except (ValueError, TypeError, AttributeError):
            raised = time.time()
        recorder.trigger(max(time.time(), raised) + self.config.post_roll)
        self.stats["alert_triggers"] += 1
