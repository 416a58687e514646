"""Cheap periodic checks of idle pulled sources, spread evenly over the probe interval.

Each cycle (one ``interval``) re-reads the ids of pulled sources from the registry (so sources
added or removed at run time are picked up), orders them by a stable hash of the id and gives
source *i* of *N* the slot ``i * interval / N``: 20,000 cameras at 60 s are 333 probes/s at
an even 3 ms spacing, never a burst, and each source keeps roughly the same place in the
cycle. When the event loop stalls, the remaining slots shift instead of firing the missed
ones at once (catch-up is limited to ~50 ms worth of slots); the cycle then runs a little
longer (``last_cycle_duration``). A slot is skipped (and counted) when the source is active
(being pulled: the stream reports its state itself) or when ``concurrency`` probes are
already in flight.

By scheme: ``rtsp``/``rtsps`` URLs go to the injected ``probe(url, timeout=...)`` (the
signature of :func:`mediaserver.sources.rtsp_probe.probe_rtsp`, which returns an object with
``state``, ``codec``, ``width``, ``height`` and ``error`` and never raises); ``file://`` URLs
are ``online`` when the file exists (checked in a thread), ``error`` otherwise; other schemes
(http, rtmp, srt...) are not probed — their state comes from their first viewer. Results go to
the StatusBoard, which turns only real changes into events.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

from redis.exceptions import RedisError

from ..redact import redact_url, scrub
from ..store.connection import cancel_and_wait, reraise_if_cancelling

logger = logging.getLogger(__name__)

ProbeFn = Callable[..., Awaitable[Any]]


class _Registry(Protocol):
    async def pulled_ids(self) -> list[str]: ...
    async def url_of(self, source_id: str) -> str | None: ...


class _Board(Protocol):
    def source_state(self, source_id: str, state: str, **fields: object) -> None: ...


def slot_key(source_id: str) -> bytes:
    """Stable (process-independent) hash deciding a source's place in the cycle."""
    return hashlib.blake2b(source_id.encode(), digest_size=8).digest()


#: Seconds between looks at the registry while no source needs probing.
EMPTY_RECHECK = 2.0


class ProbeScheduler:
    """Owns one scheduling task and the probe tasks in flight (``start``/``aclose``)."""

    def __init__(self, registry: _Registry, status_board: _Board, probe: ProbeFn, *,
                 interval: float = 60.0, timeout: float = 5.0, concurrency: int = 64,
                 is_active: Callable[[str], bool] = lambda _id: False) -> None:
        self.registry = registry
        self.status = status_board
        self.probe = probe
        self.interval = interval
        self.timeout = timeout
        self.concurrency = concurrency
        self.is_active = is_active
        self._task: asyncio.Task[None] | None = None
        self._inflight: set[asyncio.Task[None]] = set()
        self.stats: dict[str, float] = {
            "cycles": 0, "targets": 0, "probes": 0, "ok": 0, "failed": 0, "skipped": 0,
            "skipped_active": 0, "unprobed": 0, "last_cycle_duration": 0.0}

    @property
    def in_flight(self) -> int:
        return len(self._inflight)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="probe-scheduler")

    async def aclose(self) -> None:
        """Cancel the scheduler and the probes in flight, and wait for them."""
        task, self._task = self._task, None
        await cancel_and_wait(task, *self._inflight)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            try:
                ids = await self.registry.pulled_ids()
            except (RedisError, OSError) as exc:
                reraise_if_cancelling(exc)
                logger.warning("probe scheduler: cannot list sources (%s)", type(exc).__name__)
                ids = []
            ids.sort(key=slot_key)
            self.stats["targets"] = len(ids)
            step = self.interval / len(ids) if ids else self.interval
            slack = max(2 * step, 0.05)
            anchor = started
            for index, source_id in enumerate(ids):
                delay = anchor + index * step - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -slack:  # the loop stalled: shift the rest, don't catch up in a burst
                    anchor -= delay
                self._launch(source_id)
            self.stats["last_cycle_duration"] = loop.time() - started
            self.stats["cycles"] += 1
            # with nothing to probe, look again soon: a first camera should not wait a cycle
            period = self.interval if ids else min(self.interval, EMPTY_RECHECK)
            await asyncio.sleep(max(started + period - loop.time(), 0.0))

    def probe_now(self, source_id: str) -> None:
        """Probe one source out of turn (it was just added or its URL changed), so the wall
        colours it at once instead of after up to one interval."""
        self._launch(source_id)

    def _launch(self, source_id: str) -> None:
        if self.is_active(source_id):
            self.stats["skipped_active"] += 1
            return
        if len(self._inflight) >= self.concurrency:
            self.stats["skipped"] += 1
            return
        task = asyncio.create_task(self._probe_one(source_id), name=f"probe:{source_id}")
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def _probe_one(self, source_id: str) -> None:
        try:
            url = await self.registry.url_of(source_id)
        except (RedisError, OSError) as exc:
            reraise_if_cancelling(exc)
            return
        if not url:
            return
        scheme = url.split(":", 1)[0].lower()
        if scheme in ("rtsp", "rtsps"):
            result = await self._probe_rtsp(source_id, url)
            if result is None:
                return
            state = str(getattr(result, "state", "offline"))
            error = getattr(result, "error", None)
            fields = {k: getattr(result, k, None) for k in ("codec", "width", "height")}
        elif scheme == "file":
            self.stats["probes"] += 1
            path = unquote(urlsplit(url).path)
            exists = await asyncio.to_thread(os.path.isfile, path)
            state, error, fields = ("online", None, {}) if exists else \
                ("error", "file not found", {})
        else:
            self.stats["unprobed"] += 1
            return
        if self.is_active(source_id):  # a viewer started it meanwhile: the stream reports
            return
        self.stats["ok" if state in ("online", "streaming") else "failed"] += 1
        clean = {k: v for k, v in fields.items() if v is not None}
        self.status.source_state(source_id, state, last_error=scrub(str(error or "")), **clean)

    async def _probe_rtsp(self, source_id: str, url: str) -> Any:
        self.stats["probes"] += 1
        try:  # the probe bounds itself; the margin only guards against a hung probe
            return await asyncio.wait_for(self.probe(url, timeout=self.timeout),
                                          self.timeout + 5.0)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - a faulty probe must not kill the scheduler
            self.stats["failed"] += 1
            logger.warning("[%s] probe of %s failed: %s", source_id, redact_url(url),
                           scrub(str(exc)) or type(exc).__name__)
            return None
