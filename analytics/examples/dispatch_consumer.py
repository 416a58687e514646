"""A dispatch-system consumer of fusionhub alerts (documented in docs/analytics.md).

Reads ``fh:events:alerts`` in a consumer group (at-least-once), dispatches each alert once
(dedupe on ``alert_id`` in a Redis set, so a replayed or re-delivered ``raised`` event never
dispatches twice), applies later events (resolved, reviewed, ...) idempotently, and XACKs only
after handling, so a crash before the ack redelivers the entry (claimed after ``--claim``
seconds of idleness by any consumer of the group).

    python -m analytics.examples.dispatch_consumer --redis redis://127.0.0.1:6379/0 \\
        --group dispatch --name desk-1
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

logger = logging.getLogger("dispatch")

Handler = Callable[[str, dict[str, Any]], Awaitable[None]]


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    """Create the consumer group (from the start of the stream) unless it exists."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


async def consume(redis: aioredis.Redis, *, stream: str = "fh:events:alerts",
                  group: str = "dispatch", name: str = "desk-1", dispatch: Handler,
                  update: Handler | None = None, seen_key: str | None = None,
                  claim_idle_ms: int = 30_000, stop: asyncio.Event | None = None) -> None:
    """Run until ``stop`` is set. ``dispatch(alert_id, alert)`` is awaited once per alert id;
    ``update(event, alert)`` for every other event. ``redis`` must decode responses."""
    await ensure_group(redis, stream, group)
    seen_key = seen_key or f"{stream}:{group}:dispatched"
    stop = stop or asyncio.Event()
    while not stop.is_set():
        # first entries another consumer of the group took and never acked, then new ones
        _, entries, *_ = await redis.xautoclaim(stream, group, name, claim_idle_ms, "0-0",
                                                count=50)
        if not entries:
            reply = await redis.xreadgroup(group, name, {stream: ">"}, count=50, block=1000)
            entries = reply[0][1] if reply else []
        for entry_id, fields in entries:
            if fields:
                await _handle(redis, fields, seen_key, dispatch, update)
            await redis.xack(stream, group, entry_id)


async def _handle(redis: aioredis.Redis, fields: dict[str, str], seen_key: str,
                  dispatch: Handler, update: Handler | None) -> None:
    if fields.get("v") != "1" or fields.get("type") != "alert":
        return
    alert = json.loads(fields["data"])
    alert_id = fields["alert_id"]
    if fields["event"] == "raised":
        if await redis.sadd(seen_key, alert_id) == 0:
            return  # already dispatched: a replay or a redelivery
        try:
            await dispatch(alert_id, alert)
        except BaseException:
            await redis.srem(seen_key, alert_id)  # not dispatched after all: retry later
            raise
    elif update is not None:
        await update(fields["event"], alert)


async def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--group", default="dispatch")
    parser.add_argument("--name", default="desk-1")
    parser.add_argument("--prefix", default="fh:")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    redis = aioredis.Redis.from_url(args.redis, decode_responses=True)

    async def dispatch(alert_id: str, alert: dict[str, Any]) -> None:
        logger.info("DISPATCH %s %s at %s (group %s, confidence %.2f)", alert_id,
                    alert["kind"], alert["source_id"], alert["group"], alert["confidence"])

    async def update(event: str, alert: dict[str, Any]) -> None:
        logger.info("%s %s: state=%s review=%s", event, alert["alert_id"], alert["state"],
                    alert["review"])

    try:
        await consume(redis, stream=f"{args.prefix}events:alerts", group=args.group,
                      name=args.name, dispatch=dispatch, update=update)
    finally:
        await redis.aclose()


if __name__ == "__main__":
    asyncio.run(_main())
