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
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from redis.asyncio import Redis
from redis.exceptions import NoScriptError

from ..config import SourceConfig
from ..errors import SourceError, SourceInvalid, SourceNotFound
from ..redact import redact_url

logger = logging.getLogger(__name__)

STATES = ("offline", "online", "streaming", "error")
INDEXED_STATES = ("online", "streaming", "error")  # offline = a source in none of these
CHUNK = 200  # records per script call (~7 ms of server time) / per pipeline


def _structured(annotation: Any) -> bool:
    """Whether a field holds a nested value (stored JSON-encoded in the flat hash)."""
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return any(_structured(a) for a in get_args(annotation) if a is not type(None))
    if origin in (tuple, list, dict, set, frozenset):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel | tuple | list | dict)


_FIELDS = {name: f.annotation for name, f in SourceConfig.model_fields.items()}
_JSON_FIELDS = frozenset(n for n, a in _FIELDS.items() if _structured(a))
_BOOL_FIELDS = frozenset(n for n, a in _FIELDS.items() if a is bool)
_FIELD_LIST = json.dumps(list(_FIELDS))

# Writes a chunk of records. KEYS: sources, idx:ids, idx:groups, idx:search, idx:pulled.
# ARGV: prefix, create_only, JSON list of all record fields, then one JSON per record:
# [flat fields, search text]. Returns per record 0 exists (create_only), 1 created, 2 updated,
# 3 updated with media changed. Set additions are batched per chunk; per record it costs
# HMGET, HSET and (for an update that unsets optional fields) HDEL.
_PUT_LUA = """
local p, create_only, all_fields = ARGV[1], ARGV[2] == '1', cjson.decode(ARGV[3])
local media = {'url', 'publish', 'always_on', 'transport'}
local results, ids, zargs, searches, pulled, unpulled, groups = {}, {}, {}, {}, {}, {}, {}
for i = 4, #ARGV do
  local rec = cjson.decode(ARGV[i])
  local f, search = rec[1], rec[2]
  local id, group = f['id'], f['group']
  local key = p .. 'source:' .. id
  local old = redis.call('HMGET', key, 'group', 'url', 'publish', 'always_on', 'transport',
                         'name')
  local existed = old[1] ~= false
  if existed and create_only then
    results[#results + 1] = 0
  else
    local hargs = {}
    for k, v in pairs(f) do hargs[#hargs + 1] = k; hargs[#hargs + 1] = v end
    redis.call('HSET', key, unpack(hargs))
    if existed then
      local gone = {}
      for _, name in ipairs(all_fields) do
        if f[name] == nil then gone[#gone + 1] = name end
      end
      if #gone > 0 then redis.call('HDEL', key, unpack(gone)) end
    end
    ids[#ids + 1] = id
    zargs[#zargs + 1] = 0; zargs[#zargs + 1] = id
    searches[#searches + 1] = search
    if f['url'] and f['publish'] ~= 'true' then pulled[#pulled + 1] = id
    else unpulled[#unpulled + 1] = id end
    groups[group] = groups[group] or {}
    table.insert(groups[group], id)
    local result = 1
    if existed then
      local oldsearch = string.lower(id .. '\\31' .. (old[6] or '')) .. '\\30' .. id
      if oldsearch ~= search then redis.call('SREM', KEYS[4], oldsearch) end
      if old[1] ~= group then
        local gk = p .. 'group:' .. old[1]
        redis.call('SREM', gk, id)
        if redis.call('SCARD', gk) == 0 then redis.call('SREM', KEYS[3], old[1]) end
      end
      result = 2
      for j, name in ipairs(media) do
        if (old[j + 1] or '') ~= (f[name] or '') then result = 3 end
      end
    end
    results[#results + 1] = result
  end
end
if #ids > 0 then
  redis.call('SADD', KEYS[1], unpack(ids))
  redis.call('ZADD', KEYS[2], unpack(zargs))
  redis.call('SADD', KEYS[4], unpack(searches))
  if #pulled > 0 then redis.call('SADD', KEYS[5], unpack(pulled)) end
  if #unpulled > 0 then redis.call('SREM', KEYS[5], unpack(unpulled)) end
  for g, members in pairs(groups) do
    redis.call('SADD', p .. 'group:' .. g, unpack(members))
    redis.call('SADD', KEYS[3], g)
  end
end
return results
"""

# KEYS as above; ARGV: prefix, id. Also drops the source's status and state-index entries.
_DELETE_LUA = """
local p, id = ARGV[1], ARGV[2]
local old = redis.call('HMGET', p .. 'source:' .. id, 'group', 'name')
local g = old[1]
if not g then return 0 end
redis.call('DEL', p .. 'source:' .. id, p .. 'status:' .. id)
redis.call('SREM', KEYS[1], id)
redis.call('ZREM', KEYS[2], id)
redis.call('SREM', KEYS[4], string.lower(id .. '\\31' .. (old[2] or '')) .. '\\30' .. id)
redis.call('SREM', KEYS[5], id)
local gk = p .. 'group:' .. g
redis.call('SREM', gk, id)
if redis.call('SCARD', gk) == 0 then redis.call('SREM', KEYS[3], g) end
for _, st in ipairs({'online', 'streaming', 'error'}) do
  redis.call('SREM', p .. 'idx:state:' .. st, id)
end
return 1
"""

CREATED, UPDATED, MEDIA_CHANGED, EXISTS = 1, 2, 3, 0



class SourceExists(SourceError, FileExistsError):
    """A create found the id taken (HTTP 409)."""


class SourceValidationError(SourceInvalid):
    """A record failed validation; ``field`` names the offending field (dotted path)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.detail = message


@dataclass(frozen=True, slots=True)
class Page:
    items: list[SourceConfig]
    total: int
    next_cursor: str | None


def validate_source(data: Any, allowed_schemes: Iterable[str] | None = None) -> SourceConfig:
    """Validate a record, raising :class:`SourceValidationError` naming the first bad field."""
    if not isinstance(data, dict):
        raise SourceValidationError("(record)", "must be an object")
    try:
        source = SourceConfig.model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(p) for p in err["loc"]) or "(record)"
        raise SourceValidationError(field, err["msg"]) from None
    if source.url is not None and allowed_schemes is not None:
        scheme = source.url.split(":", 1)[0].lower() if ":" in source.url else ""
        if scheme not in allowed_schemes:
            raise SourceValidationError("url", f"scheme {scheme or '(none)'!r} is not allowed")
    return source


def to_hash(source: SourceConfig) -> dict[str, str]:
    """Flat hash fields of a record (nested values JSON-encoded, None omitted)."""
    out: dict[str, str] = {}
    for name in _FIELDS:
        value = getattr(source, name)
        if value is None:
            continue
        if isinstance(value, BaseModel):
            out[name] = value.model_dump_json()
        elif name in _JSON_FIELDS:
            out[name] = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        elif isinstance(value, bool):
            out[name] = "true" if value else "false"
        else:
            out[name] = str(value)
    return out


def from_hash(fields: dict[str, str]) -> SourceConfig:
    """Inverse of :func:`to_hash` (fields unknown to this version are ignored)."""
    data: dict[str, Any] = {}
    for key, value in fields.items():
        if key in _JSON_FIELDS:
            data[key] = json.loads(value)
        elif key in _BOOL_FIELDS:
            data[key] = value == "true"
        elif key in _FIELDS:
            data[key] = value
    return SourceConfig.model_validate(data)


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(text: str) -> str:
    """Lower-case A-Z only, exactly like Lua's ``string.lower`` in the scripts."""
    return text.translate(_ASCII_LOWER)


def search_text(source: SourceConfig) -> str:
    """The member of ``idx:search`` for a source: ``id␟name`` (A-Z lower-cased), ``␞id``."""
    return ascii_lower(f"{source.id}\x1f{source.name}") + "\x1e" + source.id


def public_view(source: SourceConfig) -> dict[str, Any]:
    """What every API response shows of a source: the record with URL credentials removed."""
    data = source.model_dump(mode="json")
    if data.get("url"):
        data["url"] = redact_url(data["url"])
    return data


def merge_patch(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """RFC 7396 JSON merge patch: nested objects merge, ``null`` removes (back to default)."""
    out = dict(target)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge_patch(out[key], value)
        else:
            out[key] = value
    return out


def in_group(path: str, group: str) -> bool:
    """True when ``path`` is ``group`` or one of its subgroups."""
    return path == group or path.startswith(group + "/")


def _glob_escape(text: str) -> str:
    return "".join("\\" + c if c in "*?[]\\^" else c for c in text)


class SourceRegistry:
    """Sources in Redis; every method is one or a few round trips (pipelined)."""

    def __init__(self, redis: Redis, prefix: str = "fh:", *,
                 allowed_schemes: Iterable[str] | None = None) -> None:
        self.redis = redis
        self.prefix = prefix
        self.allowed_schemes = frozenset(s.lower() for s in allowed_schemes) \
            if allowed_schemes is not None else None
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
        return validate_source(data, self.allowed_schemes)

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
        source = self.validate(merge_patch(current.model_dump(mode="json"), changes))
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
