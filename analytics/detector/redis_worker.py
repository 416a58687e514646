"""Scale-out detection through Redis Streams consumer groups.

Hub side (:class:`RedisDetectorClient`, ``analytics.detector: redis``): sampled frames go to
``{prefix}frames`` (capped with ``MAXLEN ~``, so an absent detector loses old frames, counted
by Redis, never memory), fields ``seq``, ``source_id``, ``node``, ``w``, ``h``, ``lb`` (JSON
letterbox) and ``data`` (raw RGB, HWC uint8). Results come back on
``{prefix}detections:{node}``: ``seq``, ``source_id``, ``detections`` (JSON), ``ms``.

Worker side (:func:`run_worker`, ``fusionhub detector``): ``XREADGROUP`` in group
``detectors`` (batching up to ``analytics.batch`` frames from any sources), detect, ``XADD``
the result, ``XACK``. Frames pending on a dead worker are claimed after ``CLAIM_IDLE_MS``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
from typing import Any

import numpy as np

from .preprocess import Letterbox

logger = logging.getLogger(__name__)

GROUP = "detectors"
CLAIM_IDLE_MS = 10_000
RESULTS_MAXLEN = 10_000


def frames_key(prefix: str) -> str:
    return f"{prefix}frames"


def results_key(prefix: str, node: str) -> str:
    return f"{prefix}detections:{node}"


def encode_frame(seq: int, source_id: str, node: str, array: np.ndarray,
                 box: Letterbox) -> dict[str, Any]:
    h, w = array.shape[:2]
    return {"seq": seq, "source_id": source_id, "node": node, "w": w, "h": h,
            "lb": json.dumps([box.scale, box.dx, box.dy, box.width, box.height]),
            "data": np.ascontiguousarray(array, dtype=np.uint8).tobytes()}


def decode_frame(fields: dict[bytes, bytes]) -> tuple[int, str, str, np.ndarray, Letterbox]:
    w, h = int(fields[b"w"]), int(fields[b"h"])
    data = fields[b"data"]
    if len(data) != w * h * 3:
        raise ValueError("frame size does not match w*h*3")
    scale, dx, dy, width, height = json.loads(fields[b"lb"])
    return (int(fields[b"seq"]), fields[b"source_id"].decode(), fields[b"node"].decode(),
            np.frombuffer(data, np.uint8).reshape(h, w, 3),
            Letterbox(scale, dx, dy, int(width), int(height)))


class RedisDetectorClient:
    """Same surface as :class:`~analytics.detector.process.DetectorProcess`."""

    def __init__(self, redis_url: str, prefix: str, node: str, *, input_size: tuple[int, int],
                 queue_size: int = 16) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.Redis.from_url(redis_url)  # binary: frames are raw bytes
        self._prefix, self._node = prefix, node
        self.input_size = input_size
        self._queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(queue_size)
        self._maxlen = max(16, queue_size * 4)
        self._tasks: list[asyncio.Task[None]] = []
        self.on_result = None
        self.submitted = self.dropped = self.completed = 0
        self.alive = True
        self._last: bytes = b"0-0"

    async def start(self) -> None:
        await self._redis.ping()
        # results after this point only (not those of an earlier run of this node)
        newest = await self._redis.xrevrange(results_key(self._prefix, self._node), count=1)
        self._last = newest[0][0] if newest else b"0-0"
        self._tasks = [asyncio.create_task(self._send(), name="detector-frames"),
                       asyncio.create_task(self._receive(), name="detector-results")]

    def submit(self, seq: int, source_id: str, image: np.ndarray, box: Letterbox) -> bool:
        try:
            self._queue.put_nowait(encode_frame(seq, source_id, self._node, image, box))
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        self.submitted += 1
        return True

    async def _send(self) -> None:
        key = frames_key(self._prefix)
        while True:
            frame = await self._queue.get()
            try:
                await self._redis.xadd(key, frame, maxlen=self._maxlen, approximate=True)
            except Exception as exc:  # noqa: BLE001 - a lost sample is counted, not fatal
                self.dropped += 1
                logger.warning("cannot hand a frame to the detectors: %s", exc)
                await asyncio.sleep(1.0)

    async def _receive(self) -> None:
        key = results_key(self._prefix, self._node)
        last = self._last
        while True:
            try:
                reply = await self._redis.xread({key: last}, count=100, block=1000)
            except Exception as exc:  # noqa: BLE001
                logger.warning("cannot read detections: %s", exc)
                await asyncio.sleep(1.0)
                continue
            for _, entries in reply or []:
                for entry_id, f in entries:
                    last = entry_id
                    self.completed += 1
                    if self.on_result is not None:
                        self.on_result(int(f[b"seq"]), f[b"source_id"].decode(),
                                       json.loads(f[b"detections"]), float(f[b"ms"]))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)
        await self._redis.aclose()


def serve(redis: Any, detector: Any, prefix: str, name: str, batch: int,
          stop: Any) -> int:
    """The blocking worker loop (``stop()`` → True ends it). Returns frames processed."""
    import redis as redis_lib

    key = frames_key(prefix)
    try:
        redis.xgroup_create(key, GROUP, id="0", mkstream=True)
    except redis_lib.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise
    done = 0
    while not stop():
        claimed = redis.xautoclaim(key, GROUP, name, CLAIM_IDLE_MS, "0-0", count=batch)
        entries = claimed[1] if claimed and claimed[1] else []
        if not entries:
            reply = redis.xreadgroup(GROUP, name, {key: ">"}, count=batch, block=500)
            entries = reply[0][1] if reply else []
        jobs, bad = [], []
        for entry_id, fields in entries:
            if not fields:
                bad.append(entry_id)  # trimmed away by MAXLEN while pending
                continue
            try:
                jobs.append((entry_id, *decode_frame(fields)))
            except (KeyError, ValueError) as exc:
                logger.warning("dropping a malformed frame %s: %s", entry_id, exc)
                bad.append(entry_id)
        if jobs:
            results = detector.detect([j[4] for j in jobs], [j[5] for j in jobs],
                                      [j[2] for j in jobs])
            pipe = redis.pipeline(transaction=False)
            for job, dets in zip(jobs, results, strict=True):
                pipe.xadd(results_key(prefix, job[3]),
                          {"seq": job[1], "source_id": job[2], "ms": 0,
                           "detections": json.dumps([d.as_json() for d in dets])},
                          maxlen=RESULTS_MAXLEN, approximate=True)
                pipe.xack(key, GROUP, job[0])
            pipe.execute()
            done += len(jobs)
        if bad:
            redis.xack(key, GROUP, *bad)
    return done


def run_worker(settings: Any, config: Any, *, name: str | None = None) -> int:
    """``fusionhub detector``: serve until SIGTERM/SIGINT."""
    import redis as redis_lib

    from mediaserver.errors import ConfigError

    from ..models.catalog import load_catalog
    from .detector import Detector

    if not settings.redis.url:
        raise ConfigError("fusionhub detector needs redis.url (the hub's shared Redis)")
    detector = Detector(load_catalog(config.models), backend=config.backend,
                        threads=config.threads)
    client = redis_lib.Redis.from_url(settings.redis.url)
    stopping = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.append(True))
    name = name or f"{socket.gethostname()}-{os.getpid()}"
    logging.basicConfig(level=logging.INFO)
    logger.info("detector %s serving %s (input %sx%s)", name, frames_key(settings.redis.prefix),
                *detector.input_size)
    serve(client, detector, settings.redis.prefix, name, config.batch, lambda: bool(stopping))
    return 0
