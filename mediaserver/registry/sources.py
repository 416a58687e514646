"""The source registry in Redis (ARCHITECTURE §4).

Contract keys (``{p}`` is ``RedisConfig.prefix``, ``fh:`` by default):

- ``{p}source:{id}`` hash: the record as flat fields (``location``, ``tags`` and ``analytics``
  JSON-encoded, booleans ``true``/``false``, unset optional fields absent);
- ``{p}sources`` set of all ids; ``{p}group:{path}`` set of the ids directly in that group.

Index keys kept beside them (implementation detail, maintained by the same scripts):

- ``{p}idx:ids`` sorted set (all scores 0): ids in lexical order, so an unfiltered page is
  one ``ZRANGE``/``ZRANGEBYLEX`` and never loads all ids;
- ``{p}idx:search`` set of ``id␟name`` texts (A-Z lower-cased, ``␞id`` appended), matched
  server-side with ``SSCAN MATCH`` (the text filter is case-insensitive for A-Z only);
- ``{p}idx:groups`` set of group paths that have members (the wall's tree);
- ``{p}idx:pulled`` set of ids of pulled sources (a url and not ``publish``), for the probes;
- ``{p}idx:state:{state}`` sets (online/streaming/error), maintained by the StatusBoard.

Writes are Lua scripts, so a record and its indexes (a move between groups included) change
atomically; a bulk import sends one script call per chunk of records. For Redis Cluster use a
prefix with a hash tag (``{fh}:``) so that all keys share one slot.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from ..config import SourceConfig
from ..errors import SourceNotFound
from .source_record import (  # noqa: F401 - re-exported: the registry's public names
    _FIELD_LIST,
    CHUNK,
    CREATED,
    EXISTS,
    INDEXED_STATES,
    MEDIA_CHANGED,
    STATES,
    UPDATED,
    Page,
    SourceExists,
    SourceValidationError,
    ascii_lower,
    from_hash,
    in_group,
    merge_patch,
    public_view,
    search_text,
    to_hash,
    validate_source,
)
from .source_scripts import _DELETE_LUA, _PUT_LUA

logger = logging.getLogger(__name__)

def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\^" else c for c in text)


class SourceRegistry:
    """Sources in Redis; every method is one or a few round trips (pipelined)."""

    def __init__(self, redis: Redis, prefix: str = "fh:", *,
                 allowed_schemes: Iterable[str] | None = None,
                 file_roots: Iterable[Path] | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.allowed_schemes = frozenset(s.lower() for s in allowed_schemes) \
            if allowed_schemes is not None else None
        #: where file:// sources may read (None: anywhere; the hub always sets it)
        self.file_roots = tuple(file_roots) if file_roots is not None else None
        self._shas: dict[str, str] = {}
        p = prefix
        self._index_keys = [f"{p}sources", f"{p}idx:ids", f"{p}idx:groups", f"{p}idx:search",
                            f"{p}idx:pulled"]

    def source_key(self, source_id: str) -> str:
        return f"{self.prefix}source:{source_id}"

    def group_key(self, group: str) -> str:
        return f"{self.prefix}group:{group}"

    def state_key(self, state: str) -> str:
        return f"{self.prefix}idx:state:{state}"

    def validate(self, data: Any) -> SourceConfig:
        """:func:`validate_source` with this registry's URL scheme allowlist."""
        return validate_source(data, self.allowed_schemes, self.file_roots)

    # -- single records -----------------------------------------------------------------

    async def get(self, source_id: str) -> SourceConfig | None:
        fields = await self.redis.hgetall(self.source_key(source_id))
        return from_hash(fields) if fields else None

    async def get_many(self, ids: Iterable[str]) -> list[SourceConfig]:
        """Records of ``ids`` in order; ids that no longer exist are left out."""
        ids = list(ids)
        out: list[SourceConfig] = []
        for start in range(0, len(ids), CHUNK):
            async with self.redis.pipeline(transaction=False) as pipe:
                for sid in ids[start:start + CHUNK]:
                    pipe.hgetall(self.source_key(sid))
                rows = await pipe.execute()
            out.extend(from_hash(r) for r in rows if r)
        return out

    async def url_of(self, source_id: str) -> str | None:
        """The stored URL (with credentials: for connecting only, never for display)."""
        return await self.redis.hget(self.source_key(source_id), "url")

    async def put(self, source: SourceConfig, *, create_only: bool = False) -> int:
        """Write one record; returns CREATED, UPDATED or MEDIA_CHANGED (url, publish,
        always_on or transport differ). With ``create_only`` an existing id raises
        :class:`SourceExists` and nothing is written."""
        result = (await self.bulk_write([source], create_only=create_only))[0]
        if result == EXISTS:
            raise SourceExists(source.id)
        return result

    async def patch(self, source_id: str, changes: dict[str, Any]) -> SourceConfig:
        """Merge ``changes`` (RFC 7396) into the record, validate, write; returns the result."""
        return (await self.patch_detailed(source_id, changes))[0]

    async def patch_detailed(self, source_id: str,
                             changes: dict[str, Any]) -> tuple[SourceConfig, SourceConfig, int]:
        """Like :meth:`patch`; returns ``(new, old, result of put)``."""
        current = await self.get(source_id)
        if current is None:
            raise SourceNotFound(source_id)
        if "id" in changes and changes["id"] != source_id:
            raise SourceValidationError("id", "cannot be changed")
        merged = merge_patch(current.model_dump(mode="json"), changes)
        source = await asyncio.to_thread(self.validate, merged)  # file:// resolves on disk
        return source, current, await self.put(source)

    async def delete(self, source_id: str) -> bool:
        """Remove the record, its index entries and its status; False when it did not exist."""
        return bool(await self._eval("delete", self._index_keys, [self.prefix, source_id]))

    # -- bulk ---------------------------------------------------------------------------

    async def bulk_put(self, sources: Iterable[SourceConfig]) -> int:
        """Upsert many records (one script call per chunk); returns how many were written."""
        return sum(1 for r in await self.bulk_write(sources) if r != EXISTS)

    async def bulk_write(self, sources: Iterable[SourceConfig], *,
                         create_only: bool = False) -> list[int]:
        """Write records in chunks; one result per record (EXISTS, CREATED, UPDATED,
        MEDIA_CHANGED) in input order. The next chunk is encoded while the server runs the
        previous one (at most one call in flight)."""
        results: list[int] = []
        in_flight: asyncio.Task[list[int]] | None = None
        args: list[str] = []
        try:
            for source in sources:
                args.append(json.dumps([to_hash(source), search_text(source)],
                                       separators=(",", ":"), ensure_ascii=False))
                if len(args) >= CHUNK:
                    if in_flight is not None:
                        results.extend(await in_flight)
                    in_flight = asyncio.create_task(self._write_chunk(args, create_only))
                    args = []
            if in_flight is not None:
                results.extend(await in_flight)
                in_flight = None
            if args:
                results.extend(await self._write_chunk(args, create_only))
        finally:
            if in_flight is not None and not in_flight.done():
                in_flight.cancel()
                await asyncio.gather(in_flight, return_exceptions=True)
        return results

    async def _write_chunk(self, records: list[str], create_only: bool) -> list[int]:
        flag = "1" if create_only else "0"
        out = await self._eval("put", self._index_keys,
                               [self.prefix, flag, _FIELD_LIST, *records])
        return [int(r) for r in out]

    async def _eval(self, name: str, keys: list[str], args: list[str]) -> Any:
        for attempt in range(2):
            if name not in self._shas:
                self._shas[name] = await self.redis.script_load(
                    _PUT_LUA if name == "put" else _DELETE_LUA)
            try:
                return await self.redis.evalsha(self._shas[name], len(keys), *keys, *args)
            except NoScriptError:  # the server restarted or flushed its script cache
                self._shas.clear()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    # -- listing ------------------------------------------------------------------------

    async def count(self) -> int:
        return int(await self.redis.scard(f"{self.prefix}sources"))

    async def ids(self) -> set[str]:
        return set(await self.redis.smembers(f"{self.prefix}sources"))

    async def pulled_ids(self) -> list[str]:
        """Ids of pulled sources (a url, not ``publish``), sorted."""
        return sorted(await self.redis.smembers(f"{self.prefix}idx:pulled"))

    async def all_groups(self) -> set[str]:
        return set(await self.redis.smembers(f"{self.prefix}idx:groups"))

    async def visible_ids(self, visible: Callable[[str], bool]) -> set[str]:
        """Ids in the groups ``visible`` accepts (all ids when it accepts every group)."""
        every = await self.all_groups()
        chosen = [g for g in every if visible(g)]
        if len(chosen) == len(every):
            return await self.ids()
        return await self._members(self.group_key(g) for g in chosen)

    async def groups(self, visible: Callable[[str], bool] | None = None) -> dict[str, int]:
        """Sources per group path, each count including the group's subgroups."""
        paths = sorted(g for g in await self.all_groups() if visible is None or visible(g))
        async with self.redis.pipeline(transaction=False) as pipe:
            for path in paths:
                pipe.scard(self.group_key(path))
            counts = await pipe.execute()
        tree: dict[str, int] = {}
        for path, count in zip(paths, counts, strict=True):
            parts = path.split("/")
            for depth in range(1, len(parts) + 1):
                node = "/".join(parts[:depth])
                tree[node] = tree.get(node, 0) + int(count)
        return dict(sorted(tree.items()))

    async def list(self, *, group: str | None = None, state: str | None = None,
                   q: str | None = None, limit: int = 100, offset: int = 0,
                   cursor: str | None = None,
                   visible: Callable[[str], bool] | None = None) -> Page:
        """One page of sources ordered by id. ``group`` includes its subgroups; ``visible``
        (a predicate on group paths) restricts to the groups a caller may see. Without any
        filter a page costs one sorted-set range; filters work on id sets (bounded by the
        number of matching sources) and never load records outside the page."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        candidates: set[str] | None
        if q:  # the text match is server-side and usually small: filter its result
            candidates = await self._match_text(None, q)
            if len(candidates) <= 10 * CHUNK:
                candidates = await self._refine(candidates, group, state, visible)
            else:
                others = await self._candidates(group, state, visible)
                if others is not None:
                    candidates &= others
        else:
            candidates = await self._candidates(group, state, visible)
        if candidates is None:
            ids, total = await self._range_all(limit, offset, cursor)
        else:
            ordered = sorted(candidates)
            total = len(ordered)
            start = bisect.bisect_right(ordered, cursor) if cursor is not None else offset
            ids = ordered[start:start + limit + 1]
        more = len(ids) > limit
        ids = ids[:limit]
        items = await self.get_many(ids)
        return Page(items=items, total=total, next_cursor=ids[-1] if more and ids else None)

    async def _range_all(self, limit: int, offset: int,
                         cursor: str | None) -> tuple[list[str], int]:
        key = f"{self.prefix}idx:ids"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zcard(key)
            if cursor is not None:
                pipe.zrangebylex(key, "(" + cursor, "+", start=0, num=limit + 1)
            else:
                pipe.zrange(key, offset, offset + limit)
            total, ids = await pipe.execute()
        return list(ids), int(total)

    async def _candidates(self, group: str | None, state: str | None,
                          visible: Callable[[str], bool] | None) -> set[str] | None:
        """Ids matching the group/visibility/state filters, or None for "all sources"."""
        candidates: set[str] | None = None
        if group is not None or visible is not None:
            every = await self.all_groups()
            chosen = [g for g in every if (group is None or in_group(g, group))
                      and (visible is None or visible(g))]
            if group is not None or len(chosen) < len(every):
                candidates = await self._members(self.group_key(g) for g in chosen)
        if state is None:
            return candidates
        if state == "offline":
            busy = [self.state_key(s) for s in INDEXED_STATES]
            if candidates is None:
                return set(await self.redis.sdiff(f"{self.prefix}sources", *busy))
            return candidates - set(await self.redis.sunion(*busy))
        if candidates is None:
            return set(await self.redis.sinter(self.state_key(state), f"{self.prefix}sources"))
        return candidates & set(await self.redis.smembers(self.state_key(state)))

    async def _refine(self, ids: set[str], group: str | None, state: str | None,
                      visible: Callable[[str], bool] | None) -> set[str]:
        """``ids`` reduced to the group/visibility/state filters (cost ∝ ``len(ids)``)."""
        order = sorted(ids)
        if not order or (group is None and visible is None and state is None):
            return ids
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in order:
                pipe.hget(self.source_key(sid), "group")
            for indexed in INDEXED_STATES:
                pipe.smismember(self.state_key(indexed), order)
            replies = await pipe.execute()
        groups = replies[:len(order)]
        flags = replies[len(order):]
        out: set[str] = set()
        for i, (sid, g) in enumerate(zip(order, groups, strict=True)):
            if g is None or (group is not None and not in_group(g, group)) or (
                    visible is not None and not visible(g)):
                continue
            current = next((st for st, f in zip(INDEXED_STATES, flags, strict=True) if f[i]),
                           "offline")
            if state is None or state == current:
                out.add(sid)
        return out

    async def _members(self, keys: Iterable[str]) -> set[str]:
        out: set[str] = set()
        async with self.redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.smembers(key)
            for members in await pipe.execute():
                out.update(members)
        return out

    async def _match_text(self, candidates: set[str] | None, needle: str) -> set[str]:
        """Ids (among ``candidates``) whose id or name contains ``needle``, case-insensitive
        for A-Z. The scan runs server-side (``SSCAN MATCH``): only matches cross the wire."""
        needle = ascii_lower(needle)
        out: set[str] = set()
        pattern = "*" + _glob_escape(needle) + "*\x1e*"
        async for member in self.redis.sscan_iter(f"{self.prefix}idx:search", match=pattern,
                                                  count=5000):
            text, _, sid = member.rpartition("\x1e")
            if needle in text and (candidates is None or sid in candidates):
                out.add(sid)
        return out
