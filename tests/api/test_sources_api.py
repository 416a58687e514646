"""Sources REST API over loopback against a real Valkey: CRUD, scope, errors, import, secrets."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from redis.asyncio import Redis

from mediaserver.api.sources import SourcesApi
from mediaserver.errors import AccessDenied
from mediaserver.hub import sources_cli
from mediaserver.registry.sources import SourceRegistry
from mediaserver.registry.status import StatusBoard
from mediaserver.store.connection import make_client
from mediaserver.store.embedded import EmbeddedRedis

PASSWORD = "Sup3rS3cretPw"
ROLE_ACTIONS = {"viewer": {"view"}, "operator": {"view", "operate"},
                "admin": {"view", "operate", "review", "admin", "publish"}}


@dataclass(frozen=True)
class Principal:
    role: str
    groups: tuple[str, ...] = ()


class FakeAccess:
    """The ``Access`` protocol: bearer tokens looked up in a dict (a neighbour's fake)."""

    def __init__(self, tokens: dict[str, Principal]) -> None:
        self.tokens = tokens

    async def authenticate(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        principal = self.tokens.get(header.removeprefix("Bearer "))
        if not header.startswith("Bearer ") or principal is None:
            raise AccessDenied("missing or unknown token", status=401)
        return principal

    def require(self, principal: Principal, action: str) -> None:
        if action not in ROLE_ACTIONS[principal.role]:
            raise AccessDenied(f"role {principal.role} may not {action}", status=403)

    def sees_group(self, principal: Principal, group: str) -> bool:
        return principal.role == "admin" and not principal.groups or any(
            group == g or group.startswith(g + "/") for g in principal.groups)


TOKENS = {"admin": Principal("admin"), "viewer-cy": Principal("viewer", ("beijing/chaoyang",)),
          "admin-hd": Principal("admin", ("beijing/haidian",))}


@dataclass
class Hub:
    url: str
    session: aiohttp.ClientSession
    redis: Redis
    registry: SourceRegistry
    status: StatusBoard
    changes: list[tuple[str, str]] = field(default_factory=list)

    async def call(self, method: str, path: str, token: str | None = "admin",
                   **kw: Any) -> tuple[int, Any, str]:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        async with self.session.request(method, self.url + path, headers=headers,
                                        **kw) as resp:
            text = await resp.text()
            body = json.loads(text) if text and resp.content_type == "application/json" \
                else None
            return resp.status, body, text


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    server = EmbeddedRedis(tmp_path)
    await server.start()
    redis = make_client(server.url)
    registry = SourceRegistry(redis, allowed_schemes=("rtsp", "rtsps", "file", "http"))
    status = StatusBoard(redis, node="test", interval=0.05)
    await status.start()
    changes: list[tuple[str, str]] = []

    async def on_change(kind: str, source_id: str) -> None:
        changes.append((kind, source_id))

    app = web.Application()
    SourcesApi(registry, status, FakeAccess(TOKENS), on_change,
               import_limit=32 * 1024 * 1024).add_routes(app)
    # a rejected upload is read and discarded for lingering_time (aiohttp: 10 s) before the
    # connection closes, and shutdown waits for it: keep it short in tests
    runner = web.AppRunner(app, lingering_time=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    session = aiohttp.ClientSession()
    try:
        yield Hub(f"http://127.0.0.1:{port}", session, redis, registry, status, changes)
    finally:
        await session.close()
        await runner.cleanup()
        await status.aclose()
        await redis.aclose()
        await server.aclose()


def src(sid: str, group: str = "beijing/chaoyang", **kw: Any) -> dict[str, Any]:
    return {"id": sid, "name": f"Camera {sid}", "group": group,
            "url": f"rtsp://admin:{PASSWORD}@10.0.0.1/{sid}", **kw}


async def test_crud_round_trip_without_leaking_credentials(hub: Hub, caplog):
    caplog.set_level(logging.DEBUG)
    bodies: list[str] = []

    status, body, text = await hub.call("POST", "/api/v1/sources", json=src("cam-1"))
    bodies.append(text)
    assert status == 201, text
    assert body["url"] == "rtsp://***@10.0.0.1/cam-1" and body["status"]["state"] == "offline"
    assert await hub.redis.hget("fh:source:cam-1", "url") == \
        f"rtsp://admin:{PASSWORD}@10.0.0.1/cam-1"  # stored: needed to connect
    assert hub.changes == [("created", "cam-1")]

    status, body, text = await hub.call("GET", "/api/v1/sources/cam-1")
    bodies.append(text)
    assert status == 200 and body["id"] == "cam-1" and body["group"] == "beijing/chaoyang"

    status, body, text = await hub.call("PATCH", "/api/v1/sources/cam-1",
                                        json={"name": "Gate", "tags": ["north"]})
    bodies.append(text)
    assert status == 200 and body["name"] == "Gate" and body["tags"] == ["north"]
    status, body, text = await hub.call(
        "PATCH", "/api/v1/sources/cam-1",
        json={"url": f"rtsp://root:{PASSWORD}@10.0.0.2/x"})
    bodies.append(text)
    assert status == 200 and body["url"] == "rtsp://***@10.0.0.2/x"
    assert hub.changes[1:] == [("metadata", "cam-1"), ("updated", "cam-1")]

    hub.status.source_state("cam-1", "streaming", codec="h264", width=1280, height=720)
    await hub.status.flush()
    status, body, text = await hub.call("GET", "/api/v1/sources/cam-1/status")
    bodies.append(text)
    assert body == {"source_id": "cam-1", "state": "streaming", "since": body["since"],
                    "node": "test", "codec": "h264", "width": 1280, "height": 720}
    status, body, text = await hub.call("GET", "/api/v1/sources?q=cam")
    bodies.append(text)
    assert body["total"] == 1 and body["items"][0]["status"]["state"] == "streaming"
    assert body["limit"] == 100 and body["offset"] == 0 and body["next_cursor"] is None

    status, body, text = await hub.call("DELETE", "/api/v1/sources/cam-1")
    assert status == 204
    assert hub.changes[-1] == ("deleted", "cam-1")
    assert await hub.redis.exists("fh:source:cam-1", "fh:status:cam-1") == 0
    status, body, text = await hub.call("GET", "/api/v1/sources/cam-1")
    bodies.append(text)
    assert status == 404 and body["error"]["code"] == "not_found"

    for text in bodies:
        assert PASSWORD not in text
    assert PASSWORD not in caplog.text


async def test_errors_map_to_statuses_with_json_bodies(hub: Hub):
    assert (await hub.call("POST", "/api/v1/sources", json=src("cam-1")))[0] == 201
    cases = [
        (("GET", "/api/v1/sources"), {"token": None}, 401, "unauthorized"),
        (("GET", "/api/v1/sources"), {"token": "bogus"}, 401, "unauthorized"),
        (("POST", "/api/v1/sources"), {"token": "viewer-cy", "json": src("x")}, 403,
         "forbidden"),
        (("POST", "/api/v1/sources"), {"json": src("cam-1")}, 409, "exists"),
        (("POST", "/api/v1/sources"), {"data": b"{not json",
                                       "headers": {"Content-Type": "application/json"}},
         400, "bad_json"),
        (("POST", "/api/v1/sources"), {"json": [1, 2]}, 400, "bad_json"),
        (("POST", "/api/v1/sources"), {"data": b"[" * 5000,  # RecursionError, found fuzzing
                                       "headers": {"Content-Type": "application/json"}},
         400, "bad_json"),
        (("POST", "/api/v1/sources"), {"data": b"{" + b" " * 70_000 + b"}"}, 413, "too_large"),
        (("GET", "/api/v1/sources?limit=5000"), {}, 400, "bad_param"),
        (("GET", "/api/v1/sources?limit=abc"), {}, 400, "bad_param"),
        (("GET", "/api/v1/sources?offset=99999999999999999999"), {}, 400, "bad_param"),
        (("GET", "/api/v1/sources?offset=5&cursor=cam-1"), {}, 400, "bad_param"),
        (("GET", "/api/v1/sources?state=purple"), {}, 400, "bad_param"),
        (("GET", "/api/v1/sources?group=../etc"), {}, 400, "bad_param"),
        (("GET", "/api/v1/sources/..%2fetc"), {}, 404, "not_found"),
        (("PATCH", "/api/v1/sources/nope"), {"json": {"name": "x"}}, 404, "not_found"),
        (("POST", "/api/v1/sources/import?mode=merge"), {"data": b"id\nx\n"}, 400,
         "bad_param"),
        (("POST", "/api/v1/sources/import"), {"data": b"<xml/>",
                                              "headers": {"Content-Type": "text/xml"}},
         415, "unsupported_media_type"),
        (("POST", "/api/v1/sources/import"), {"data": b"[{", "headers": {
            "Content-Type": "application/json"}}, 400, "bad_body"),
    ]
    for (method, path), kw, want, code in cases:
        status, body, text = await hub.call(method, path, **kw)
        assert (status, (body or {}).get("error", {}).get("code")) == (want, code), \
            (method, path, text)
        assert body["error"]["message"]

    status, body, _ = await hub.call("POST", "/api/v1/sources",
                                     json=src("cam-2", location={"lat": 91, "lon": 0}))
    assert status == 422 and body["error"]["field"] == "location.lat"
    status, body, _ = await hub.call("PATCH", "/api/v1/sources/cam-1",
                                     json={"kind": "satellite"})
    assert status == 422 and body["error"]["field"] == "kind"
    status, body, _ = await hub.call("POST", "/api/v1/sources",
                                     json=src("cam-3") | {"url": "gopher://10.0.0.1/"})
    assert status == 422 and body["error"]["field"] == "url"


async def test_scope_hides_other_groups_as_not_found(hub: Hub):
    for sid, group in (("cy-1", "beijing/chaoyang"), ("cy-2", "beijing/chaoyang/station-12"),
                       ("hd-1", "beijing/haidian")):
        assert (await hub.call("POST", "/api/v1/sources", json=src(sid, group)))[0] == 201
    status, body, _ = await hub.call("GET", "/api/v1/sources", token="viewer-cy")
    assert [i["id"] for i in body["items"]] == ["cy-1", "cy-2"] and body["total"] == 2
    status, body, _ = await hub.call("GET", "/api/v1/sources?group=beijing", token="viewer-cy")
    assert body["total"] == 2
    assert (await hub.call("GET", "/api/v1/sources/hd-1", token="viewer-cy"))[0] == 404
    assert (await hub.call("GET", "/api/v1/sources/hd-1/status", token="viewer-cy"))[0] == 404
    status, body, _ = await hub.call("GET", "/api/v1/groups", token="viewer-cy")
    assert body == {"groups": {"beijing": 2, "beijing/chaoyang": 2,
                               "beijing/chaoyang/station-12": 1}}
    status, body, _ = await hub.call("GET", "/api/v1/groups")
    assert body["groups"]["beijing"] == 3
    # a scoped admin cannot touch, move into, or create in other groups
    assert (await hub.call("DELETE", "/api/v1/sources/cy-1", token="admin-hd"))[0] == 404
    assert (await hub.call("PATCH", "/api/v1/sources/hd-1", token="admin-hd",
                           json={"group": "beijing/chaoyang"}))[0] == 403
    assert (await hub.call("POST", "/api/v1/sources", token="admin-hd",
                           json=src("new", "shanghai")))[0] == 403
    status, body, _ = await hub.call("PATCH", "/api/v1/sources/hd-1", token="admin-hd",
                                     json={"group": "beijing/haidian/x"})
    assert status == 200 and body["group"] == "beijing/haidian/x"
    assert await hub.redis.smembers("fh:group:beijing/haidian/x") == {"hd-1"}
    assert await hub.redis.exists("fh:group:beijing/haidian") == 0


async def test_listing_2000_sources_paginates_and_filters(hub: Hub):
    body_lines = ["id,name,group,url"] + [
        f"cam-{i:04d},Cam {i},{'beijing/chaoyang' if i % 2 else 'beijing/haidian'},"
        f"rtsp://u:{PASSWORD}@10.0.{i // 250}.{i % 250}/s" for i in range(2000)]
    status, body, _ = await hub.call("POST", "/api/v1/sources/import",
                                     data="\n".join(body_lines).encode(),
                                     headers={"Content-Type": "text/csv"})
    assert status == 200 and body["imported"] == 2000 and body["created"] == 2000
    for i in range(0, 2000, 10):
        hub.status.source_state(f"cam-{i:04d}", "streaming")
    await hub.status.flush()

    ids: list[str] = []
    cursor = ""
    while True:
        status, body, text = await hub.call("GET", f"/api/v1/sources?limit=700{cursor}")
        assert status == 200 and PASSWORD not in text
        ids.extend(i["id"] for i in body["items"])
        if not body["next_cursor"]:
            break
        cursor = f"&cursor={body['next_cursor']}"
    assert ids == [f"cam-{i:04d}" for i in range(2000)]
    status, body, _ = await hub.call("GET", "/api/v1/sources?limit=10&offset=1995")
    assert [i["id"] for i in body["items"]] == [f"cam-{i:04d}" for i in range(1995, 2000)]

    status, body, _ = await hub.call(
        "GET", "/api/v1/sources?state=streaming&group=beijing/haidian&limit=1000")
    assert body["total"] == 200 and {i["status"]["state"] for i in body["items"]} == {
        "streaming"}
    status, body, _ = await hub.call("GET", "/api/v1/sources?state=streaming",
                                     token="viewer-cy")
    assert body["total"] == 0  # every 10th is even: all in haidian
    status, body, _ = await hub.call("GET", "/api/v1/sources?q=CAM%2019&limit=1000")
    assert body["total"] == 111  # "Cam 19", "Cam 190".."Cam 199", "Cam 1900".."Cam 1999"


async def test_import_csv_reports_bad_rows_and_imports_the_rest(hub: Hub):
    csv_text = (
        "id,name,group,kind,url,publish,always_on,lat,lon,tags\n"
        f"ok-1,Gate,beijing/chaoyang,camera,rtsp://u:{PASSWORD}@10.0.0.1/a,false,true,"
        "39.9,116.4,gate;north\n"
        "bad id!,x,beijing,camera,,false,false,,,\n"
        "ok-2,Drone 2,beijing/haidian,drone,,true,false,,,\n"
        "bad-lat,x,beijing,camera,,false,false,95,0,\n"
        "bad-bool,x,beijing,camera,,maybe,false,,,\n"
        "ok-1,dup,beijing,camera,,false,false,,,\n"
        "bad-kind,x,beijing,satellite,,false,false,,,\n")
    status, body, text = await hub.call("POST", "/api/v1/sources/import",
                                        data=csv_text.encode(),
                                        headers={"Content-Type": "text/csv"})
    assert status == 200, text
    assert PASSWORD not in text
    assert (body["imported"], body["created"], body["failed"]) == (2, 2, 5)
    errors = {(e["row"], e.get("field")) for e in body["errors"]}
    assert errors == {(2, "id"), (4, "location.lat"), (5, "publish"), (6, "id"), (7, "kind")}
    assert {e["line"] for e in body["errors"]} == {3, 5, 6, 7, 8}
    ok1 = await hub.registry.get("ok-1")
    assert ok1.always_on and ok1.tags == ("gate", "north") and ok1.location.lat == 39.9
    assert (await hub.registry.get("ok-2")).publish
    assert hub.changes == [("created", "ok-1"), ("created", "ok-2")]

    status, body, _ = await hub.call(
        "POST", "/api/v1/sources/import?mode=create",
        json={"sources": [src("ok-2"), src("new-1"), {"id": "x", "kind": 5}]})
    assert (body["imported"], body["failed"]) == (1, 2)
    assert {(e["row"], e["field"], e["message"]) for e in body["errors"]} == {
        (1, "id", "already exists"), (3, "kind", body["errors"][-1]["message"])}
    ndjson = b'{"id": "nd-1"}\nnot json\n{"id": "ok-2", "name": "renamed"}\n'
    status, body, _ = await hub.call("POST", "/api/v1/sources/import", data=ndjson,
                                     headers={"Content-Type": "application/x-ndjson"})
    assert (body["imported"], body["created"], body["updated"], body["failed"]) == (2, 1, 1, 1)
    assert body["errors"][0]["row"] == 2 and body["errors"][0]["line"] == 2
    assert (await hub.registry.get("ok-2")).name == "renamed"


async def test_import_body_limit(hub: Hub, tmp_path: Path):
    big = b"id\n" + b"x" * (33 * 1024 * 1024)
    async with aiohttp.ClientSession() as session:  # closed at once: no lingering upload
        async with session.post(f"{hub.url}/api/v1/sources/import", data=big,
                                headers={"Content-Type": "text/csv",
                                         "Authorization": "Bearer admin"}) as resp:
            assert resp.status == 413
            assert (await resp.json())["error"]["code"] == "too_large"

    async def chunked():  # no Content-Length: the limit applies while reading
        for _ in range(40):
            yield b"x" * (1024 * 1024)

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{hub.url}/api/v1/sources/import", data=chunked(),
                                headers={"Content-Type": "text/csv",
                                         "Authorization": "Bearer admin"}) as resp:
            assert resp.status == 413


async def test_import_100k_sources_through_the_http_api(hub: Hub, tmp_path: Path):
    path = tmp_path / "sources.csv"
    groups = [f"city/district-{d}/station-{s}" for d in range(20) for s in range(10)]
    with path.open("w") as f:
        f.write("id,name,group,kind,url,publish,always_on,lat,lon,tags\n")
        for i in range(100_000):
            f.write(f"cam-{i:06d},Camera {i},{groups[i % len(groups)]},camera,"
                    f"rtsp://admin:{PASSWORD}@10.{i // 65536}.{i // 256 % 256}.{i % 256}/live,"
                    f"false,false,39.{i % 1000},116.{i % 997},fixed;hd\n")
        f.write("bad row!,x,city,camera,,false,false,,,\n")
    out = io.StringIO()
    started = time.perf_counter()
    summary = await sources_cli.import_file(path, hub.url, "admin", out=out)
    elapsed = time.perf_counter() - started
    print(f"\n100,000 sources imported through the HTTP API in {elapsed:.1f} s "
          f"({100_000 / elapsed:,.0f}/s; {summary['chunks']} requests)")
    assert summary["imported"] == 100_000 and summary["failed"] == 1
    assert summary["errors"][0]["row"] == 100_001 and summary["errors"][0]["line"] == 100_002
    assert "imported 100000" in out.getvalue() and "row 100001" in out.getvalue()
    assert await hub.redis.scard("fh:sources") == 100_000
    started = time.perf_counter()
    status, body, _ = await hub.call("GET", "/api/v1/sources?limit=1000&offset=50000")
    page_ms = (time.perf_counter() - started) * 1000
    timings = {}
    for query in ("q=camera%2099999", "group=city/district-3", "state=offline&limit=10",
                  "q=camera%20123&group=city"):
        started = time.perf_counter()
        status2, body2, _ = await hub.call("GET", f"/api/v1/sources?{query}")
        timings[query] = ((time.perf_counter() - started) * 1000, body2["total"])
    print(f"a 1,000-item page at offset 50,000 of 100,000: {page_ms:.0f} ms; filtered pages "
          "(ms, total): " + ", ".join(f"{q}: {ms:.0f} ({n})" for q, (ms, n) in timings.items()))
    assert [n for _, n in timings.values()] == [1, 5000, 100_000, 111]
    status2, body2, _ = await hub.call("GET", "/api/v1/sources?q=camera%2099999")
    assert status == 200 and body["items"][0]["id"] == "cam-050000" and body["total"] == 100_000
    assert body2["total"] == 1
    assert elapsed < 60
