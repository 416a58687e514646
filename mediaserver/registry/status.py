"""Live status of sources: ``{p}status:{id}`` hashes, the ``{p}events:status`` stream and
coalesced ``{p}live`` notices (ARCHITECTURE §4).

:meth:`StatusBoard.source_state` is the :class:`~mediaserver.core.interfaces.StatusSink`: it is
synchronous and never blocks — it updates an in-memory map and queues the write. One writer
task flushes everything queued, in pipelined batches, at most every ``interval`` (250 ms):
the hash fields, the state index sets, one stream entry per state change (``MAXLEN ~``) and
one ``PUBLISH`` with all changes since the previous flush. Repeats (same state, same fields)
write nothing. Pending hash writes coalesce per source; pending stream entries are capped at
``max_events`` (the oldest are dropped and counted). The state index sets
``{p}idx:state:{online|streaming|error}`` (used by the registry's state filter) are updated in
the same flush.

A stream entry has the fields ``v`` (``1``), ``type`` (``status``), ``source_id``, ``state`` and
``data`` (the whole JSON event, see :mod:`mediaserver.registry.events`). ``since`` is Unix time
in seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Iterable
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from ..redact import scrub
from ..store.connection import cancel_and_wait, reraise_if_cancelling
from .events import EVENT_VERSION, encode
from .sources import INDEXED_STATES, STATES

logger = logging.getLogger(__name__)

FIELDS = ("codec", "width", "height", "fps", "bitrate", "viewers", "last_error")
_INT_FIELDS = ("width", "height", "bitrate", "viewers")
_FLOAT_FIELDS = ("fps", "since")
_MAX_ERROR = 500
BATCH = 500  # commands per pipeline


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def typed_status(fields: dict[str, str]) -> dict[str, Any]:
    """A status hash as JSON-friendly values (numbers parsed, empty fields dropped)."""
    out: dict[str, Any] = {"state": fields.get("state", "offline")}
    for key, value in fields.items():
        if key == "state" or value == "":
            continue
        try:
            if key in _INT_FIELDS:
                out[key] = int(float(value))
                continue
            if key in _FLOAT_FIELDS:
                out[key] = float(value)
                continue
        except ValueError:
            pass
        out[key] = value
    return out


class StatusBoard:
    """Implements ``StatusSink``; owns one writer task (``start``/``aclose``)."""

    def __init__(self, redis: Redis, prefix: str = "fh:", *, node: str,
                 maxlen: int = 100_000, interval: float = 0.25,
                 max_events: int = 10_000) -> None:
        self.redis = redis
        self.prefix = prefix
        self.node = node
        self.maxlen = maxlen
        self.interval = interval
        self._states: dict[str, str] = {}
        self._written: dict[str, dict[str, str]] = {}
        self._dirty: dict[str, dict[str, str]] = {}
        self._moves: dict[str, str] = {}
        self._events: deque[dict[str, Any]] = deque()
        self._max_events = max_events
        self._live: dict[str, dict[str, Any]] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.stats = {"changes": 0, "flushes": 0, "events": 0, "published": 0,
                      "dropped_events": 0, "dropped_live": 0, "flush_errors": 0, "invalid": 0}

    # -- StatusSink ---------------------------------------------------------------------

    def source_state(self, source_id: str, state: str, **fields: object) -> None:
        """Record a state (and fields such as codec, width, height, last_error)."""
        if state not in STATES:
            self.stats["invalid"] += 1
            logger.warning("[%s] ignoring unknown state %r", source_id, state)
            return
        values = {k: _text(v) for k, v in fields.items() if k in FIELDS}
        if "last_error" in values:
            values["last_error"] = scrub(values["last_error"])[:_MAX_ERROR]
        prev = self._states.get(source_id, "offline")
        if state == prev and source_id in self._states:
            self._update(source_id, values)
            return
        self._states[source_id] = state
        if state == prev:  # first report of a source never seen: no change, no event
            self._update(source_id, {"state": state, **values}, force=True)
            return
        since = round(time.time(), 3)
        event: dict[str, Any] = {"v": EVENT_VERSION, "type": "status", "source_id": source_id,
                                 "state": state, "prev": prev, "since": since,
                                 "node": self.node}
        event.update({k: v for k, v in fields.items() if k in FIELDS and v is not None})
        if "last_error" in values:
            event["last_error"] = values["last_error"]
        self.stats["changes"] += 1
        if len(self._events) >= self._max_events:
            self._events.popleft()
            self.stats["dropped_events"] += 1
        self._events.append(event)
        self._live[source_id] = event
        self._moves[source_id] = state
        self._update(source_id, {"state": state, "since": _text(since), **values}, force=True)

    def update_metrics(self, source_id: str, fps: float, bitrate: int, viewers: int) -> None:
        """Periodic counters of an active source; written without an event."""
        self._update(source_id, {"fps": _text(float(fps)), "bitrate": _text(int(bitrate)),
                                 "viewers": _text(int(viewers))})

    def _update(self, source_id: str, values: dict[str, str], force: bool = False) -> None:
        written = self._written.setdefault(source_id, {})
        changed = {k: v for k, v in values.items() if written.get(k) != v}
        if not changed and not force:
            return
        written.update(changed)
        pending = self._dirty.setdefault(source_id, {})
        pending.update(values if force else changed)
        pending["node"] = self.node
        self._wake.set()

    def forget(self, source_id: str) -> None:
        """Drop a deleted source from memory and from the pending writes."""
        for table in (self._states, self._written, self._dirty, self._moves, self._live):
            table.pop(source_id, None)

    def observe(self, event: dict[str, Any]) -> None:
        """Apply a ``fh:live`` status message from another node to the in-memory map."""
        if event.get("type") != "status":
            return
        for change in event.get("changes") or ():
            if not isinstance(change, dict) or change.get("node") == self.node:
                continue
            sid, state = change.get("source_id"), change.get("state")
            if isinstance(sid, str) and state in STATES:
                self._states[sid] = state

    # -- queries ------------------------------------------------------------------------

    def status_key(self, source_id: str) -> str:
        return f"{self.prefix}status:{source_id}"

    def snapshot(self) -> dict[str, str]:
        """Known states by id (sources never reported are ``offline``)."""
        return dict(self._states)

    def state_of(self, source_id: str) -> str:
        return self._states.get(source_id, "offline")

    async def get(self, source_id: str) -> dict[str, Any]:
        return typed_status(await self.redis.hgetall(self.status_key(source_id)))

    async def get_many(self, ids: Iterable[str]) -> list[dict[str, Any]]:
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.hgetall(self.status_key(sid))
            rows = await pipe.execute()
        return [typed_status(r) for r in rows]

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Load the stored states, reset those this node left behind, start the writer."""
        await self._load()
        if self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(self._run(), name="status-writer")

    async def _load(self) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            for state in INDEXED_STATES:
                pipe.smembers(f"{self.prefix}idx:state:{state}")
            sets = await pipe.execute()
        loaded = {sid: state for state, ids in zip(INDEXED_STATES, sets, strict=True)
                  for sid in ids}
        ids = list(loaded)
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in ids:
                pipe.hget(self.status_key(sid), "node")
            nodes = await pipe.execute()
        for sid, node in zip(ids, nodes, strict=True):
            self._states.setdefault(sid, loaded[sid])
            if node == self.node:  # this node restarted: nothing of it is active any more
                self.source_state(sid, "offline", last_error="")

    async def aclose(self, timeout: float = 5.0) -> None:
        """Stop the writer after a final flush (bounded by ``timeout``)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stop.set()
        self._wake.set()
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            logger.warning("status writer did not finish its final flush in %.1f s", timeout)
            await cancel_and_wait(task)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            ok = await self.flush()
            if self._stop.is_set():
                return
            try:  # at most one flush (and one PUBLISH) per interval; longer after an error
                await asyncio.wait_for(self._stop.wait(), self.interval if ok else 1.0)
            except TimeoutError:
                pass

    async def flush(self) -> bool:
        """Write everything queued (pipelines of ``BATCH`` commands, so a burst of thousands
        of changes never holds the event loop for long); on failure requeue what was not
        written and return False."""
        dirty, self._dirty = self._dirty, {}
        moves, self._moves = self._moves, {}
        events = list(self._events)
        self._events.clear()
        live, self._live = self._live, {}
        if not (dirty or moves or events or live):
            return True
        written = 0  # events already in the stream: never written twice
        try:
            await self._batched(self._state_ops(dirty, moves))
            stream = f"{self.prefix}events:status"
            for start in range(0, len(events), BATCH):
                async with self.redis.pipeline(transaction=False) as pipe:
                    for event in events[start:start + BATCH]:
                        pipe.xadd(stream, {"v": str(EVENT_VERSION), "type": "status",
                                           "source_id": event["source_id"],
                                           "state": event["state"], "data": encode(event)},
                                  maxlen=self.maxlen, approximate=True)
                    await pipe.execute()
                written = start + BATCH
            if live:
                await self.redis.publish(f"{self.prefix}live", encode(
                    {"v": EVENT_VERSION, "type": "status", "changes": list(live.values())}))
        except (RedisError, OSError) as exc:
            self._requeue(dirty, moves, events[written:])
            reraise_if_cancelling(exc)
            self.stats["flush_errors"] += 1
            self.stats["dropped_live"] += len(live)
            logger.warning("status flush failed (%s): %s; retrying", type(exc).__name__,
                           scrub(str(exc)))
            return False
        self.stats["flushes"] += 1
        self.stats["events"] += len(events)
        self.stats["published"] += 1 if live else 0
        return True

    def _state_ops(self, dirty: dict[str, dict[str, str]],
                   moves: dict[str, str]) -> list[tuple[str, str, Any]]:
        """Idempotent writes: status hashes and the state index sets (batched per state)."""
        ops: list[tuple[str, str, Any]] = [("hset", self.status_key(sid), values)
                                           for sid, values in dirty.items()]
        for indexed in INDEXED_STATES:
            key = f"{self.prefix}idx:state:{indexed}"
            added = [sid for sid, state in moves.items() if state == indexed]
            removed = [sid for sid, state in moves.items() if state != indexed]
            for start in range(0, len(added), BATCH):
                ops.append(("sadd", key, added[start:start + BATCH]))
            for start in range(0, len(removed), BATCH):
                ops.append(("srem", key, removed[start:start + BATCH]))
        return ops

    async def _batched(self, ops: list[tuple[str, str, Any]]) -> None:
        for start in range(0, len(ops), BATCH):
            async with self.redis.pipeline(transaction=False) as pipe:
                for name, key, arg in ops[start:start + BATCH]:
                    if name == "hset":
                        pipe.hset(key, mapping=arg)
                    elif name == "sadd":
                        pipe.sadd(key, *arg)
                    else:
                        pipe.srem(key, *arg)
                await pipe.execute()

    def _requeue(self, dirty: dict[str, dict[str, str]], moves: dict[str, str],
                 events: list[dict[str, Any]]) -> None:
        for sid, values in dirty.items():
            newer = self._dirty.get(sid, {})
            self._dirty[sid] = {**values, **newer}
        for sid, state in moves.items():
            self._moves.setdefault(sid, state)
        room = self._max_events - len(self._events)
        keep = events[-room:] if room > 0 else []
        self.stats["dropped_events"] += len(events) - len(keep)
        self._events.extendleft(reversed(keep))
        self._wake.set()
