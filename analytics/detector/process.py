"""The detector worker process of a single node, fed through ``multiprocessing`` queues.

Why queues and not Redis in single-node mode: a sampled frame is ~1 MB of pixels; a pipe to a
child process moves it without a network hop or base64, and the bounded request queue is the
back-pressure point (the hub drops and counts when it is full). For scale-out the same
:class:`~analytics.detector.detector.Detector` runs behind Redis Streams consumer groups
(:mod:`analytics.detector.redis_worker`, ``fusionhub detector``).

Protocol: requests ``(seq, source_id, image HWC uint8, Letterbox)``; replies
``("ready", info)`` once, then ``("result", seq, source_id, [Detection.as_json()...], ms)``;
``("error", message)`` when the models cannot be loaded. ``None`` ends the worker. Every
``METRICS_INTERVAL`` seconds the worker also replies ``("metrics", text)``: its own Prometheus
registry (inference counters and times, the process's CPU and memory) in the text format, which
the hub re-exposes on its ``/metrics`` (:attr:`DetectorProcess.metrics_text`).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mediaserver.errors import ConfigError

logger = logging.getLogger(__name__)

START_TIMEOUT = 60.0
#: Seconds between the worker's metrics replies.
METRICS_INTERVAL = 2.0


class _WorkerMetrics:
    """The detector process's own registry (lives in the child)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Histogram,
            ProcessCollector,
            disable_created_metrics,
        )

        disable_created_metrics()
        self.registry = CollectorRegistry()
        ProcessCollector(namespace="fusionhub_detector", registry=self.registry)
        self.frames = Counter("fusionhub_detector_frames_total", "Frames the detector process "
                              "ran the models on", registry=self.registry)
        self.batches = Counter("fusionhub_detector_batches_total", "Inference batches",
                               registry=self.registry)
        self.seconds = Histogram("fusionhub_detector_batch_seconds", "Seconds per inference "
                                 "batch (all default models)", registry=self.registry,
                                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
        self._sent = 0.0

    def observe(self, frames: int, seconds: float) -> None:
        self.frames.inc(frames)
        self.batches.inc()
        self.seconds.observe(seconds)

    def send_due(self, replies: mp.Queue, *, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._sent >= METRICS_INTERVAL:
            from prometheus_client import generate_latest

            self._sent = now
            replies.put(("metrics", generate_latest(self.registry).decode()))


def worker_main(catalog_path: str, backend: str, threads: int, batch: int,
                requests: mp.Queue, replies: mp.Queue) -> None:
    """Entry point of the child process."""
    from ..models.catalog import load_catalog
    from .detector import Detector

    try:
        detector = Detector(load_catalog(catalog_path), backend=backend, threads=threads)
    except ConfigError as exc:
        replies.put(("error", str(exc)))
        return
    replies.put(("ready", {"input": list(detector.input_size)}))
    metrics = _WorkerMetrics()
    metrics.send_due(replies, force=True)
    parent = os.getppid()
    while True:
        try:
            job = requests.get(timeout=1.0)
        except queue.Empty:
            if os.getppid() != parent:
                return  # the hub died (SIGKILL): never linger as an orphan
            metrics.send_due(replies)
            continue
        if job is None:
            return
        jobs = [job]
        while len(jobs) < batch:
            try:
                nxt = requests.get_nowait()
            except queue.Empty:
                break
            if nxt is None:
                requests.put(None)
                break
            jobs.append(nxt)
        started = time.perf_counter()
        results = detector.detect([j[2] for j in jobs], [j[3] for j in jobs],
                                   [j[1] for j in jobs])
        elapsed = time.perf_counter() - started
        ms = elapsed * 1000 / len(jobs)
        for j, dets in zip(jobs, results, strict=True):
            replies.put(("result", j[0], j[1], [d.as_json() for d in dets], ms))
        metrics.observe(len(jobs), elapsed)
        metrics.send_due(replies)


OnResult = Callable[[int, str, list[dict[str, Any]], float], None]


class DetectorProcess:
    """Starts the worker, hands it frames without blocking, delivers results on the loop."""

    def __init__(self, catalog: Path, *, backend: str = "onnx", threads: int = 1,
                 batch: int = 4, queue_size: int = 16) -> None:
        ctx = mp.get_context("spawn")  # never fork a process that runs an event loop
        self._requests: mp.Queue = ctx.Queue(queue_size)
        self._replies: mp.Queue = ctx.Queue()
        self._proc = ctx.Process(target=worker_main, name="fusionhub-detector", daemon=True,
                                 args=(str(catalog), backend, threads, batch, self._requests,
                                       self._replies))
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self.on_result: OnResult | None = None
        self.input_size: tuple[int, int] = (640, 640)
        self.submitted = 0
        self.dropped = 0
        self.completed = 0
        #: the worker's latest metrics, Prometheus text format ("" until the first arrive)
        self.metrics_text = ""

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    async def start(self) -> None:
        """Start and wait for the models to load; ConfigError when they cannot."""
        await asyncio.to_thread(self._proc.start)  # spawning writes pipes: off the loop
        try:
            reply = await asyncio.to_thread(self._replies.get, True, START_TIMEOUT)
        except queue.Empty:
            await self.aclose()
            raise ConfigError("detector process did not start in time") from None
        if reply[0] == "error":
            await self.aclose()
            raise ConfigError(f"detector cannot start: {reply[1]}")
        self.input_size = tuple(reply[1]["input"])  # type: ignore[assignment]
        loop = asyncio.get_running_loop()
        self._reader = threading.Thread(target=self._read, args=(loop,), daemon=True,
                                        name="detector-replies")
        self._reader.start()
        logger.info("detector process %s ready (input %sx%s)", self._proc.pid,
                    *self.input_size)

    def submit(self, seq: int, source_id: str, image: Any, box: Any) -> bool:
        """Hand a frame over without blocking; False (counted) when the queue is full."""
        try:
            self._requests.put_nowait((seq, source_id, image, box))
        except queue.Full:
            self.dropped += 1
            return False
        self.submitted += 1
        return True

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        while not self._stop.is_set():
            try:
                reply = self._replies.get(timeout=0.2)
            except queue.Empty:
                if not self._proc.is_alive() and not self._stop.is_set():
                    logger.error("detector process exited (code %s)", self._proc.exitcode)
                    return
                continue
            except (EOFError, OSError):
                return
            if reply[0] == "metrics":
                self.metrics_text = reply[1]
            elif reply[0] == "result" and self.on_result is not None:
                self.completed += 1
                try:
                    loop.call_soon_threadsafe(self.on_result, *reply[1:])
                except RuntimeError:
                    return  # the loop is closed

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    async def aclose(self) -> None:
        self._stop.set()
        if self._proc.is_alive():
            try:
                self._requests.put_nowait(None)
            except queue.Full:
                pass
            await asyncio.to_thread(self._proc.join, 3.0)
            if self._proc.is_alive():
                self._proc.kill()
                await asyncio.to_thread(self._proc.join, 3.0)
        if self._reader is not None:
            await asyncio.to_thread(self._reader.join, 2.0)
        self._requests.cancel_join_thread()
        self._replies.cancel_join_thread()
