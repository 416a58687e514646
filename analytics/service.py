"""The analytics side of a hub node: samplers, detector process, alert engine, evidence.

``AnalyticsService`` is built by the composition root with its dependencies. With
``analytics.enabled: false`` it only serves the raise path of manual alerts (API); with it
enabled, ``start()`` loads the model catalogue, starts the detector process (a missing or
broken model is a ConfigError naming the file) and one sampler per enabled source.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from pathlib import Path
from typing import Any

from PIL import Image

from mediaserver.config.analytics import AnalyticsConfig
from mediaserver.config.sources import SourceConfig
from mediaserver.core.manager import StreamManager
from mediaserver.errors import ConfigError, SnapshotError
from mediaserver.record.recorder import Recorder
from mediaserver.transcode.keyframe import decode_keyframe

from .alerts.model import new_alert_id
from .alerts.store import AlertStore
from .budget import Budget
from .detector.process import DetectorProcess
from .engine import AlertEngine, Decision
from .evidence import evidence_paths, write_snapshot
from .models.catalog import DETECTION_KINDS, load_catalog
from .on_demand_evidence import OnDemandEvidence
from .sampler import SourceSampler

logger = logging.getLogger(__name__)

LIST_CHUNK = 500


class AnalyticsService:
    def __init__(self, config: AnalyticsConfig, *, data_dir: Path, manager: StreamManager,
                 registry: Any, store: AlertStore, redis_url: str | None = None,
                 prefix: str = "fh:", node: str = "node") -> None:
        self.config = config
        self._redis_url, self._prefix, self._node = redis_url, prefix, node
        self.data_dir = Path(data_dir)
        self.manager = manager
        self.registry = registry
        self.store = store
        self.recorder = Recorder(config.evidence)
        self.on_demand = OnDemandEvidence(self)
        self.engine = AlertEngine(config.rules)
        self.budget = Budget(config.budget)
        self.samplers: dict[str, SourceSampler] = {}
        self.detector: Any = None  # DetectorProcess | RedisDetectorClient
        self.input_size: tuple[int, int] = (640, 640)
        self.kinds: tuple[str, ...] = DETECTION_KINDS
        self._sources: dict[str, SourceConfig] = {}
        self._pending: collections.OrderedDict[int, tuple[str, Image.Image, float]] = \
            collections.OrderedDict()
        self._seq = 0
        self._tasks: set[asyncio.Task[Any]] = set()
        self.stats: collections.Counter[str] = collections.Counter()
        self.delays: collections.deque[float] = collections.deque(maxlen=1000)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        if not self.config.enabled:
            return
        catalog = await asyncio.to_thread(load_catalog, self.config.models)
        self.kinds = tuple(sorted({k for _, s in catalog.active()
                                   for k in s.classes.values() if k}))
        if self.config.detector == "process":
            # creating its pipes and queues blocks briefly: off the loop
            self.detector = await asyncio.to_thread(
                DetectorProcess, self.config.models, backend=self.config.backend,
                threads=self.config.threads, batch=self.config.batch,
                queue_size=self.config.queue)
            self.detector.on_result = self._on_result
            await self.detector.start()
            self.input_size = self.detector.input_size
        elif self.config.detector == "redis":
            from .detector.redis_worker import RedisDetectorClient

            if not self._redis_url:
                raise ConfigError("analytics.detector: redis needs the hub's Redis URL")
            self.detector = RedisDetectorClient(self._redis_url, self._prefix, self._node,
                                                input_size=catalog.input_size,
                                                queue_size=self.config.queue)
            self.detector.on_result = self._on_result
            await self.detector.start()
            self.input_size = catalog.input_size
        else:
            self.input_size = catalog.input_size
        for source in await self._enabled_sources():
            await self._start_source(source)
        logger.info("analytics: %d sources sampled, kinds %s", len(self.samplers),
                    ",".join(self.kinds))

    async def _enabled_sources(self) -> list[SourceConfig]:
        ids = sorted(await self.registry.ids())
        found = []
        for i in range(0, len(ids), LIST_CHUNK):
            found += [s for s in await self.registry.get_many(ids[i:i + LIST_CHUNK])
                      if s.analytics.enabled]
        return found

    async def _start_source(self, source: SourceConfig) -> None:
        self._sources[source.id] = source
        sampler = SourceSampler(self, source.id,
                                source.analytics.interval or self.config.interval)
        self.samplers[source.id] = sampler
        await sampler.start()

    async def _stop_source(self, source_id: str) -> None:
        sampler = self.samplers.pop(source_id, None)
        self._sources.pop(source_id, None)
        if sampler is not None:
            await sampler.aclose()
        self.recorder.drop(source_id)
        self.engine.forget(source_id)

    async def source_changed(self, kind: str, source_id: str) -> None:
        """Hook for the sources API: start, restart or stop sampling of ``source_id``."""
        if not self.config.enabled:
            return
        await self._stop_source(source_id)
        if kind != "deleted":
            source = await self.registry.get(source_id)
            if source is not None and source.analytics.enabled:
                await self._start_source(source)

    async def aclose(self) -> None:
        for source_id in list(self.samplers):
            await self._stop_source(source_id)
        await self.recorder.aclose()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks)
        if self.detector is not None:
            await self.detector.aclose()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.stats["task_errors"] += 1
            logger.error("analytics task %s failed: %r", task.get_name(), task.exception())

    # -- sampling → detection → decisions -----------------------------------------------------

    def submit(self, source_id: str, image: Image.Image, array: Any, box: Any) -> bool:
        if self.detector is None or not self.detector.alive:
            self.stats["no_detector"] += 1
            return False
        self._seq += 1
        self._pending[self._seq] = (source_id, image, time.monotonic())
        while len(self._pending) > 4 * self.config.queue:
            self._pending.popitem(last=False)
            self.stats["lost_results"] += 1
        if not self.detector.submit(self._seq, source_id, array, box):
            del self._pending[self._seq]
            return False
        return True

    def _on_result(self, seq: int, source_id: str, detections: list[dict[str, Any]],
                   ms: float) -> None:
        pending = self._pending.pop(seq, None)
        source = self._sources.get(source_id)
        if pending is None or source is None:
            return
        self.stats["results"] += 1
        _, image, submitted = pending
        kinds = tuple(k for k in self.kinds
                      if not source.analytics.classes or k in source.analytics.classes)
        hits: dict[str, tuple[float, list[list[float]]]] = {}
        for det in detections:
            kind, conf = det["kind"], det["confidence"]
            if kind not in kinds or conf < source.analytics.thresholds.get(kind, 0.0):
                continue
            best, boxes = hits.get(kind, (0.0, []))
            if det["box"]:
                boxes = [*boxes, [*det["box"], conf]]
            hits[kind] = (max(best, conf), boxes)
        now = time.monotonic()
        if hits and source_id in self.samplers:
            self.samplers[source_id].boost(now)
        for decision in self.engine.observe(source_id, kinds, hits, now):
            self._spawn(self._apply(source, decision, image, submitted),
                        f"alert-{decision.action}-{source_id}")

    async def _apply(self, source: SourceConfig, d: Decision, image: Image.Image,
                     submitted: float) -> None:
        if d.action == "raise":
            alert_id = None
            try:
                location = {"lat": source.location.lat, "lon": source.location.lon} \
                    if source.location else None
                alert = await self.raise_alert(source, d.kind, d.confidence, "", location,
                                               image=image, boxes=d.boxes)
                alert_id = alert["alert_id"]
                self.delays.append(time.monotonic() - submitted)
            finally:
                self.engine.bind(source.id, d.kind, alert_id)
        elif d.action == "update" and d.alert_id:
            await self.store.change(d.alert_id, "updated", confidence=f"{d.confidence:.4f}",
                                    boxes=json.dumps(d.boxes))
        elif d.action == "resolve" and d.alert_id:
            await self.store.resolve(d.alert_id)

    # -- the raise path (detections and the API) ---------------------------------------------

    async def raise_alert(self, source: SourceConfig, kind: str, confidence: float,
                          message: str = "", location: dict[str, float] | None = None, *,
                          image: Image.Image | None = None,
                          boxes: list[list[float]] | None = None) -> dict[str, Any]:
        """Snapshot (durable) → clip started → alert published; clip attached when written."""
        alert_id = new_alert_id()
        snap_rel, clip_rel = evidence_paths(self.data_dir, alert_id)
        if image is None and not self.recorder.has(source.id):
            # nobody records this source (a manual alarm): a snapshot now if it is live, the
            # rest (start it, snapshot, clip) after the answer
            image = await self._latest_picture(source.id)
            snapshot = ""
            if image is not None:
                await asyncio.to_thread(write_snapshot, self.data_dir, snap_rel, image, kind,
                                        [])
                snapshot = snap_rel
            alert = await self.store.create(alert_id=alert_id, source_id=source.id,
                                            group=source.group, kind=kind,
                                            confidence=confidence, message=message,
                                            location=location, snapshot=snapshot)
            self.stats[f"raised_{kind}"] += 1
            logger.info("[%s] %s alert %s raised; collecting evidence", source.id, kind,
                        alert_id)
            self._spawn(self.on_demand.collect(source.id, alert_id, kind, snap_rel, clip_rel,
                                               snapshot_done=bool(snapshot)),
                        f"evidence-{alert_id}")
            return alert
        if image is None:
            image = await self._latest_picture(source.id)
        snapshot = ""
        if image is not None:
            await asyncio.to_thread(write_snapshot, self.data_dir, snap_rel, image, kind,
                                    boxes or [])
            snapshot = snap_rel
        clip_task = self.recorder.start_clip(source.id, self.data_dir / clip_rel)
        alert = await self.store.create(alert_id=alert_id, source_id=source.id,
                                        group=source.group, kind=kind, confidence=confidence,
                                        boxes=boxes or [], message=message, location=location,
                                        snapshot=snapshot)
        self.stats[f"raised_{kind}"] += 1
        logger.info("[%s] %s alert %s raised (%.2f)", source.id, kind, alert_id, confidence)
        if clip_task is not None:
            self._spawn(self._attach_clip(source.id, alert_id, clip_task, clip_rel),
                        f"clip-attach-{alert_id}")
        else:
            alert = await self.store.change(alert_id, "updated",
                                            evidence_error="no recording of this source")
        return alert

    async def _attach_clip(self, source_id: str, alert_id: str, task: asyncio.Task[Path],
                           clip_rel: str) -> None:
        try:
            await task
        except Exception as exc:  # noqa: BLE001 - a clip failure must not lose the alert
            logger.warning("[%s] clip of alert %s failed: %s", source_id, alert_id, exc)
            await self.store.change(alert_id, "updated",
                                    evidence_error=f"clip failed: {exc}"[:300])
            return
        await self.store.change(alert_id, "updated", clip=clip_rel)

    async def _latest_picture(self, source_id: str) -> Image.Image | None:
        stream = self.manager.stream(source_id)
        au = stream.latest_keyframe() if stream is not None else None
        if au is None or stream is None or stream.track is None:
            return None
        params = stream.track.parameter_sets
        try:
            frame = await asyncio.to_thread(decode_keyframe, au, parameter_sets=params)
        except SnapshotError as exc:
            logger.warning("[%s] no snapshot for the alert: %s", source_id, exc)
            return None
        return await asyncio.to_thread(frame.to_image)
