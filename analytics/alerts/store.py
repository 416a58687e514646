"""The alerts contract on Redis: ``fh:alert:{id}`` hashes, the ``fh:alerts`` index, the
``fh:events:alerts`` stream (at-least-once) and ``fh:live`` notices.

Every change is one MULTI/EXEC: hash + index + stream entry, then the live notice. When Redis
is unreachable the write goes to the local :class:`~analytics.alerts.outbox.Outbox` (fsynced)
and a background task replays it in order once Redis answers again; while the outbox holds
anything, new writes queue behind it so the stream keeps the order of events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

from mediaserver.errors import AlertNotFound

from .model import PRIVATE, is_alert_id, new_alert_id, new_record, public
from .outbox import Outbox

logger = logging.getLogger(__name__)

STREAM_MAXLEN = 100_000
#: At most this many index entries are read to answer one filtered list.
SCAN_LIMIT = 20_000
REPLAY_INTERVAL = 1.0


class AlertStore:
    def __init__(self, redis: Redis, prefix: str = "fh:", *, outbox: Path,
                 stream_maxlen: int = STREAM_MAXLEN) -> None:
        self.redis = redis
        self.prefix = prefix
        self.stream = f"{prefix}events:alerts"
        self.index = f"{prefix}alerts"
        self.channel = f"{prefix}live"
        self.outbox = Outbox(outbox)
        self._maxlen = stream_maxlen
        self._lock = asyncio.Lock()
        #: records this process wrote, so it can go on while Redis is down
        self._local: dict[str, dict[str, str]] = {}
        self._task: asyncio.Task[None] | None = None
        self.stats = {"events": 0, "outboxed": 0, "replayed": 0, "redis_errors": 0}

    def key(self, alert_id: str) -> str:
        return f"{self.prefix}alert:{alert_id}"

    async def start(self) -> None:
        await self.flush_outbox()
        self._task = asyncio.create_task(self._replay_loop(), name="alerts-outbox")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None
        await self.flush_outbox()

    # -- writes -----------------------------------------------------------------------------

    async def create(self, *, source_id: str, group: str, kind: str, confidence: float,
                     boxes: list[list[float]] | None = None, message: str = "",
                     location: dict[str, float] | None = None, snapshot: str = "",
                     clip: str = "", alert_id: str | None = None) -> dict[str, Any]:
        record = new_record(alert_id=alert_id or new_alert_id(), source_id=source_id,
                            group=group, kind=kind, confidence=confidence, boxes=boxes or [],
                            now=time.time(), message=message, location=location)
        record["snapshot"], record["clip"] = snapshot, clip
        await self._write(record, "raised")
        return public(record)

    async def change(self, alert_id: str, event: str, **fields: str) -> dict[str, Any]:
        """Apply ``fields`` to an alert and emit ``event``; AlertNotFound when unknown."""
        record = await self._record(alert_id)
        record.update(fields)
        record["updated_at"] = f"{time.time():.3f}"
        await self._write(record, event)
        return public(record)

    async def resolve(self, alert_id: str) -> dict[str, Any]:
        return await self.change(alert_id, "resolved", state="resolved",
                                 resolved_at=f"{time.time():.3f}")

    async def review(self, alert_id: str, review: str, reviewer: str,
                     comment: str | None = None) -> dict[str, Any]:
        fields = {"review": review, "reviewer": reviewer}
        if comment is not None:
            fields["comment"] = comment
        return await self.change(alert_id, "reviewed", **fields)

    async def acknowledge(self, alert_id: str, by: str) -> dict[str, Any]:
        return await self.change(alert_id, "acknowledged", acknowledged_by=by,
                                 acknowledged_at=f"{time.time():.3f}")

    async def _write(self, record: dict[str, str], event: str) -> None:
        alert = public(record)
        write = {
            "key": self.key(record["alert_id"]), "hash": record,
            "score": float(record["raised_at"]),
            "entry": {"v": "1", "type": "alert", "event": event, "alert_id": alert["alert_id"],
                      "source_id": alert["source_id"],
                      "data": json.dumps(alert, separators=(",", ":"), ensure_ascii=False)},
            "live": {"v": 1, "type": "alert", "event": event, "source_id": alert["source_id"],
                     "group": alert["group"], "alert": alert},
        }
        self._local[record["alert_id"]] = dict(record)
        self.stats["events"] += 1
        async with self._lock:
            if not await asyncio.to_thread(self.outbox.pending):
                try:
                    await self._apply(write)
                    return
                except (RedisError, OSError) as exc:
                    self.stats["redis_errors"] += 1
                    logger.warning("[%s] Redis unreachable (%s): alert %s %s kept in the "
                                   "outbox", record["source_id"], exc, record["alert_id"], event)
            await asyncio.to_thread(self.outbox.append, write)
            self.stats["outboxed"] += 1

    async def _apply(self, write: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(write["key"], mapping=write["hash"])
            pipe.zadd(self.index, {write["hash"]["alert_id"]: write["score"]})
            pipe.xadd(self.stream, write["entry"], maxlen=self._maxlen, approximate=True)
            await pipe.execute()
        try:
            await self.redis.publish(self.channel, json.dumps(write["live"],
                                                             separators=(",", ":"),
                                                             ensure_ascii=False))
        except RedisError:
            pass  # fh:live is at-most-once; the stream has the event

    async def flush_outbox(self) -> int:
        """Replay the outbox into Redis; returns how many writes went through."""
        async with self._lock:
            writes = await asyncio.to_thread(self.outbox.read)
            done = 0
            try:
                for write in writes:
                    await self._apply(write)
                    done += 1
            except (RedisError, OSError) as exc:
                logger.debug("outbox replay stopped after %d writes: %s", done, exc)
            if done:
                await asyncio.to_thread(self.outbox.drop_first, done)
                self.stats["replayed"] += done
                logger.info("alert outbox: %d writes replayed into Redis", done)
            return done

    async def _replay_loop(self) -> None:
        while True:
            await asyncio.sleep(REPLAY_INTERVAL)
            if await asyncio.to_thread(self.outbox.pending):
                await self.flush_outbox()

    # -- reads ------------------------------------------------------------------------------

    async def _record(self, alert_id: str) -> dict[str, str]:
        if not is_alert_id(alert_id):
            raise AlertNotFound(alert_id)
        try:
            record = await self.redis.hgetall(self.key(alert_id))
        except (RedisError, OSError):
            record = None
            if alert_id not in self._local:
                raise
        if not record:
            record = self._local.get(alert_id)
        if not record:
            raise AlertNotFound(alert_id)
        return dict(record)

    async def get_record(self, alert_id: str) -> dict[str, str]:
        """The raw hash, paths included (for serving files); AlertNotFound when unknown."""
        return await self._record(alert_id)

    async def list(self, *, since: float | None = None, until: float | None = None,
                   match: Any = None, limit: int = 100, offset: int = 0
                   ) -> tuple[list[dict[str, Any]], int]:
        """Newest first; ``match(record)`` filters (scope and query). Returns (page, total)."""
        ids = await self.redis.zrevrangebyscore(
            self.index, "+inf" if until is None else until,
            "-inf" if since is None else since, start=0, num=SCAN_LIMIT)
        items: list[dict[str, Any]] = []
        total = 0
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            async with self.redis.pipeline(transaction=False) as pipe:
                for alert_id in chunk:
                    pipe.hgetall(self.key(alert_id))
                records = await pipe.execute()
            for record in records:
                if not record or (match is not None and not match(record)):
                    continue
                if offset <= total < offset + limit:
                    items.append(public(record))
                total += 1
        return items, total


__all__ = ["AlertStore", "AlertNotFound", "PRIVATE"]
