"""SourceRegistry against a real Valkey: the key contract, moves, validation, listing."""

from __future__ import annotations

import json
import time

import pytest
from redis.asyncio import Redis

from mediaserver.config import SourceConfig
from mediaserver.errors import SourceExists, SourceNotFound, SourceValidationError
from mediaserver.registry.sources import (
    CREATED,
    EXISTS,
    MEDIA_CHANGED,
    UPDATED,
    SourceRegistry,
    public_view,
)
from mediaserver.registry.status import StatusBoard


def cam(i: int | str, group: str = "beijing/chaoyang", **kw: object) -> SourceConfig:
    sid = i if isinstance(i, str) else f"cam-{i:05d}"
    return SourceConfig(id=sid, group=group, **kw)


async def test_crud_round_trip_keys_match_the_contract(redis: Redis):
    reg = SourceRegistry(redis, "fh:")
    src = SourceConfig(id="cam-1", name="Gate 1", group="beijing/chaoyang/station-12",
                       url="rtsp://admin:s3cret@10.0.0.5/live", location={"lat": 39.9,
                                                                          "lon": 116.4},
                       tags=("gate", "north"), analytics={"enabled": True, "classes": ["fire"]})
    assert await reg.put(src) == CREATED
    stored = await redis.hgetall("fh:source:cam-1")
    assert stored == {
        "id": "cam-1", "name": "Gate 1", "group": "beijing/chaoyang/station-12",
        "kind": "camera", "url": "rtsp://admin:s3cret@10.0.0.5/live", "publish": "false",
        "always_on": "false", "location": '{"lat":39.9,"lon":116.4}',
        "tags": '["gate","north"]', "analytics": stored["analytics"]}
    assert json.loads(stored["analytics"]) == {"enabled": True, "interval": None,
                                               "classes": ["fire"], "thresholds": {}}
    assert await redis.smembers("fh:sources") == {"cam-1"}
    assert await redis.smembers("fh:group:beijing/chaoyang/station-12") == {"cam-1"}
    assert await reg.get("cam-1") == src

    view = public_view(src)
    assert view["url"] == "rtsp://***@10.0.0.5/live"
    assert "s3cret" not in json.dumps(view)

    assert await reg.delete("cam-1") is True
    assert await reg.delete("cam-1") is False
    assert await reg.get("cam-1") is None
    leftovers = [k for k in await redis.keys("fh:*")
                 if await redis.type(k) != "none" and await redis.exists(k)]
    assert leftovers == [], leftovers  # indexes emptied too (empty sets vanish)


async def test_prefix_is_configurable(redis: Redis):
    reg = SourceRegistry(redis, "site2:")
    await reg.put(cam(1))
    assert await redis.exists("site2:source:cam-00001", "site2:sources") == 2
    assert await redis.exists("fh:sources") == 0


async def test_moving_between_groups_fixes_both_sets(redis: Redis):
    reg = SourceRegistry(redis)
    await reg.put(cam(1, "a/b"))
    await reg.put(cam(2, "a/b"))
    assert await reg.put(cam(1, "a/c")) == UPDATED
    assert await redis.smembers("fh:group:a/b") == {"cam-00002"}
    assert await redis.smembers("fh:group:a/c") == {"cam-00001"}
    await reg.patch("cam-00002", {"group": "x"})
    assert await redis.exists("fh:group:a/b") == 0
    assert await reg.groups() == {"a": 1, "a/c": 1, "x": 1}


async def test_put_results_and_create_only(redis: Redis):
    reg = SourceRegistry(redis)
    assert await reg.put(cam(1, url="rtsp://h/1")) == CREATED
    assert await reg.put(cam(1, url="rtsp://h/1", name="renamed")) == UPDATED
    assert await reg.put(cam(1, url="rtsp://h/2", name="renamed")) == MEDIA_CHANGED
    with pytest.raises(SourceExists):
        await reg.put(cam(1), create_only=True)
    assert (await reg.get("cam-00001")).url == "rtsp://h/2"  # untouched by the failed create
    results = await reg.bulk_write([cam(1), cam(2)], create_only=True)
    assert results == [EXISTS, CREATED]


async def test_patch_merges_and_validation_names_the_field(redis: Redis):
    reg = SourceRegistry(redis, allowed_schemes=("rtsp", "file"))
    await reg.put(cam(1, url="rtsp://u:p@h/1", location={"lat": 1, "lon": 2},
                      analytics={"enabled": True, "classes": ["fire"]}))
    out = await reg.patch("cam-00001", {"name": "Gate", "analytics": {"interval": 5},
                                        "location": None})
    assert out.name == "Gate" and out.location is None
    assert out.analytics.enabled and out.analytics.classes == ("fire",)
    assert out.analytics.interval == 5
    assert await redis.hexists("fh:source:cam-00001", "location") == 0  # unset → removed

    with pytest.raises(SourceValidationError) as info:
        await reg.patch("cam-00001", {"location": {"lat": 123, "lon": 0}})
    assert info.value.field == "location.lat"
    with pytest.raises(SourceValidationError) as info:
        await reg.patch("cam-00001", {"kind": "satellite"})
    assert info.value.field == "kind"
    with pytest.raises(SourceValidationError) as info:
        await reg.patch("cam-00001", {"url": "gopher://x"})
    assert info.value.field == "url"
    with pytest.raises(SourceValidationError) as info:
        await reg.patch("cam-00001", {"id": "other"})
    assert info.value.field == "id"
    with pytest.raises(SourceNotFound):
        await reg.patch("nope", {"name": "x"})
    assert (await reg.get("cam-00001")).name == "Gate"
    await reg.patch("cam-00001", {"name": "Südtor *[x]"})  # the text index follows renames
    assert (await reg.list(q="gate")).total == 0
    assert [s.id for s in (await reg.list(q="südtor *[X]")).items] == ["cam-00001"]
    assert await redis.scard("fh:idx:search") == 1


@pytest.fixture
async def two_thousand(redis: Redis) -> SourceRegistry:
    reg = SourceRegistry(redis)
    groups = ["beijing/chaoyang", "beijing/chaoyang/station-12", "beijing/haidian",
              "shanghai/pudong"]
    sources = [cam(i, groups[i % 4], name=f"Camera {'North' if i % 10 == 0 else 'South'} {i}",
                   url=f"rtsp://u:pw@10.1.{i // 250}.{i % 250}/s")
               for i in range(2000)]
    assert await reg.bulk_put(sources) == 2000
    return reg


async def test_pagination_by_offset_and_cursor_covers_everything_once(
        two_thousand: SourceRegistry):
    reg = two_thousand
    seen: list[str] = []
    cursor = None
    while True:
        page = await reg.list(limit=300, cursor=cursor)
        assert page.total == 2000
        seen.extend(s.id for s in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(f"cam-{i:05d}" for i in range(2000))
    page = await reg.list(limit=100, offset=1950)
    assert [s.id for s in page.items][0] == "cam-01950" and len(page.items) == 50
    assert page.next_cursor is None


async def test_filters_group_subgroups_text_and_visibility(two_thousand: SourceRegistry):
    reg = two_thousand
    page = await reg.list(group="beijing/chaoyang", limit=1000)
    assert page.total == 1000  # the group and its station-12 subgroup
    assert {s.group for s in page.items} == {"beijing/chaoyang", "beijing/chaoyang/station-12"}
    page = await reg.list(group="beijing/chao", limit=10)  # not a path prefix
    assert page.total == 0
    page = await reg.list(q="NORTH", limit=1000)
    assert page.total == 200 and all("North" in s.name for s in page.items)
    page = await reg.list(q="cam-0001", limit=1000)
    assert page.total == 10
    page = await reg.list(q="south", group="shanghai", limit=1000)
    assert {s.group for s in page.items} == {"shanghai/pudong"} and page.total == 500
    page = await reg.list(limit=1000, visible=lambda g: g.startswith("beijing/haidian"))
    assert page.total == 500
    cursor_page = await reg.list(limit=200, group="beijing", cursor="cam-01000")
    assert cursor_page.items[0].id == "cam-01001" and cursor_page.total == 1500
    assert await reg.groups() == {"beijing": 1500, "beijing/chaoyang": 1000,
                                  "beijing/chaoyang/station-12": 500,
                                  "beijing/haidian": 500, "shanghai": 500,
                                  "shanghai/pudong": 500}
    assert await reg.groups(lambda g: g.startswith("shanghai")) == {"shanghai": 500,
                                                                     "shanghai/pudong": 500}


async def test_state_filter_joins_the_status_board(two_thousand: SourceRegistry, redis: Redis):
    reg = two_thousand
    board = StatusBoard(redis, node="n1")
    await board.start()
    for i in range(0, 2000, 7):
        board.source_state(f"cam-{i:05d}", "streaming", codec="h264")
    board.source_state("cam-00003", "error", last_error="401")
    await board.aclose()
    started = time.perf_counter()
    page = await reg.list(state="streaming", limit=1000)
    assert page.total == len(range(0, 2000, 7))
    page = await reg.list(state="offline", limit=1000)
    elapsed = time.perf_counter() - started
    assert page.total == 2000 - len(range(0, 2000, 7)) - 1
    page = await reg.list(state="error", group="shanghai", limit=10)
    assert [s.id for s in page.items] == ["cam-00003"]
    print(f"state-filtered pages over 2,000 sources: {elapsed * 1000:.0f} ms")
    with pytest.raises(ValueError):
        await reg.list(state="purple")


async def test_pulled_ids_index(redis: Redis):
    reg = SourceRegistry(redis)
    await reg.bulk_put([cam(1, url="rtsp://h/1"), cam(2, publish=True), cam(3, url="file:///x")])
    assert await reg.pulled_ids() == ["cam-00001", "cam-00003"]
    await reg.patch("cam-00001", {"url": None, "publish": True})
    assert await reg.pulled_ids() == ["cam-00003"]
    await reg.delete("cam-00003")
    assert await reg.pulled_ids() == []
