"""The alerts REST API on a real hub (embedded Valkey, JWT auth): manual alerts, device alerts,
listing with filters and group scoping, acknowledge, review, evidence files and bad input."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.analytics.harness import start_analytics
from tests.e2e.conftest import make_hub, token  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

SOURCES = [{"id": "cam-e", "group": "city/east", "url": "rtsp://127.0.0.1:9/none",
            "location": {"lat": 39.9, "lon": 116.4}},
           {"id": "cam-w", "group": "city/west", "url": "rtsp://127.0.0.1:9/none"}]


def bearer(hub, role, groups=("*",)) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(hub, role, groups)}"}


@pytest.fixture
async def api(make_hub):  # noqa: F811
    hub = await make_hub(sources=SOURCES)
    ah = await start_analytics(hub)  # analytics disabled: manual alerts only
    async with aiohttp.ClientSession(ah.base) as http:
        yield hub, http
    await ah.aclose()


async def test_manual_alert_ack_review_and_events(api) -> None:
    hub, http = api
    redis = hub.redis.client
    operator = bearer(hub, "operator", ("city/east",))
    async with http.post("/api/v1/alerts", headers=operator,
                         json={"source_id": "cam-e", "kind": "manual",
                               "message": "一键报警: smoke in stairwell"}) as r:
        assert r.status == 201, await r.text()
        alert = await r.json()
        assert r.headers["Location"] == f"/api/v1/alerts/{alert['alert_id']}"
    alert_id = alert["alert_id"]
    assert alert_id.startswith("al_") and len(alert_id) == 19
    assert (alert["kind"], alert["state"], alert["review"], alert["acknowledged"]) == \
        ("manual", "raised", "new", False)
    assert alert["location"] == {"lat": 39.9, "lon": 116.4}  # the source's, by default
    # the camera is unreachable: no file, so no URL; the evidence says it is being collected
    assert alert["snapshot_url"] is None and alert["clip_url"] is None
    assert "snapshot" not in alert and alert["evidence"]["snapshot"] == "pending"

    async with http.post(f"/api/v1/alerts/{alert_id}/ack", headers=operator) as r:
        assert r.status == 200
        acked = await r.json()
        assert acked["acknowledged"] and acked["acknowledged_by"] == "e2e"
    # an operator may not review; an analyst may
    async with http.patch(f"/api/v1/alerts/{alert_id}", headers=operator,
                          json={"review": "confirmed"}) as r:
        assert r.status == 403
    async with http.patch(f"/api/v1/alerts/{alert_id}", headers=bearer(hub, "analyst"),
                          json={"review": "confirmed", "comment": "real"}) as r:
        assert r.status == 200
        assert (await r.json())["review"] == "confirmed"
    entries = await redis.xrange("fh:events:alerts")
    assert [(e[1]["event"], e[1]["alert_id"]) for e in entries] == \
        [("raised", alert_id), ("acknowledged", alert_id), ("reviewed", alert_id)]
    data = json.loads(entries[-1][1]["data"])
    assert data["review"] == "confirmed" and data["reviewer"] == "e2e"
    # no snapshot (the source was not streaming): 404 until present
    async with http.get(f"/api/v1/alerts/{alert_id}/snapshot", headers=operator) as r:
        assert r.status == 404
    async with http.get(f"/api/v1/alerts/{alert_id}/clip", headers=operator) as r:
        assert r.status == 404


async def test_live_notice_on_fh_live(api) -> None:
    hub, http = api
    pubsub = hub.redis.client.pubsub()
    await pubsub.subscribe("fh:live")
    try:
        await pubsub.get_message(timeout=1)  # subscribe confirmation
        async with http.post("/api/v1/alerts", headers=bearer(hub, "operator"),
                             json={"source_id": "cam-w", "kind": "fire",
                                   "confidence": 0.75}) as r:
            alert = await r.json()
        async with asyncio.timeout(5):
            while True:
                msg = await pubsub.get_message(timeout=1, ignore_subscribe_messages=True)
                if msg and json.loads(msg["data"]).get("type") == "alert":
                    break
        notice = json.loads(msg["data"])
        assert (notice["v"], notice["event"], notice["source_id"], notice["group"]) == \
            (1, "raised", "cam-w", "city/west")
        assert notice["alert"]["alert_id"] == alert["alert_id"]
        assert notice["alert"]["confidence"] == 0.75
    finally:
        await pubsub.aclose()


async def test_device_raises_only_for_its_own_source(api) -> None:
    hub, http = api
    device = {"Authorization": "Bearer " + hub.access.issue(
        "device", (), ttl=600, subject="bodycam-7", source="cam-e")}
    async with http.post("/api/v1/alerts", headers=device,
                         json={"source_id": "cam-e", "location": {"lat": 1.5, "lon": 2.5}}
                         ) as r:
        assert r.status == 201
        alert = await r.json()
        assert alert["kind"] == "manual" and alert["location"] == {"lat": 1.5, "lon": 2.5}
    async with http.post("/api/v1/alerts", headers=device,
                         json={"source_id": "cam-w"}) as r:
        assert r.status == 404
    async with http.get(f"/api/v1/alerts/{alert['alert_id']}", headers=device) as r:
        assert r.status == 200


async def test_list_filters_pagination_and_scope(api) -> None:
    hub, http = api
    admin = bearer(hub, "admin")
    ids = {}
    for source, kind in (("cam-e", "fire"), ("cam-w", "smoke"), ("cam-e", "flood"),
                         ("cam-w", "fire")):
        async with http.post("/api/v1/alerts", headers=admin,
                             json={"source_id": source, "kind": kind}) as r:
            ids[(source, kind)] = (await r.json())["alert_id"]
    async with http.get("/api/v1/alerts", headers=admin) as r:
        body = await r.json()
        assert body["total"] == 4 and (body["limit"], body["offset"]) == (50, 0)
        # newest first
        assert [a["alert_id"] for a in body["items"]] == list(ids.values())[::-1]
    east = bearer(hub, "viewer", ("city/east",))
    async with http.get("/api/v1/alerts", headers=east) as r:
        body = await r.json()
        assert {a["source_id"] for a in body["items"]} == {"cam-e"} and body["total"] == 2
    async with http.get(f"/api/v1/alerts/{ids[('cam-w', 'fire')]}", headers=east) as r:
        assert r.status == 404
    async with http.get("/api/v1/alerts?kind=fire&limit=1&offset=1", headers=admin) as r:
        body = await r.json()
        assert body["total"] == 2 and [a["alert_id"] for a in body["items"]] == \
            [ids[("cam-e", "fire")]]
    async with http.get("/api/v1/alerts?group=city/west&source=cam-w&state=raised"
                        "&review=new&acknowledged=false", headers=admin) as r:
        assert (await r.json())["total"] == 2
    async with http.get("/api/v1/alerts?since=9999999999", headers=admin) as r:
        assert (await r.json())["total"] == 0


@pytest.mark.parametrize("query", ["kind=lava", "state=open", "since=yesterday", "limit=0",
                                   "limit=100000", "acknowledged=maybe", "until=nan"])
async def test_bad_list_parameters(api, query) -> None:
    hub, http = api
    async with http.get(f"/api/v1/alerts?{query}", headers=bearer(hub, "viewer")) as r:
        assert r.status == 400
        assert (await r.json())["error"]["code"] == "bad_param"


async def test_bad_bodies_ids_and_auth(api) -> None:
    hub, http = api
    operator = bearer(hub, "operator")
    for body, field in (({"source_id": "cam-e", "kind": "lava"}, "kind"),
                        ({"source_id": "cam-e", "confidence": 2}, "confidence"),
                        ({"source_id": "cam-e", "confidence": True}, "confidence"),
                        ({"source_id": "cam-e", "location": {"lat": 91, "lon": 0}}, "location"),
                        ({"source_id": "cam-e", "location": "here"}, "location"),
                        ({"source_id": "cam-e", "message": "x" * 3000}, "message"),
                        ({"kind": "fire"}, "source_id")):
        async with http.post("/api/v1/alerts", headers=operator, json=body) as r:
            assert r.status == 422, body
            assert (await r.json())["error"]["field"] == field
    async with http.post("/api/v1/alerts", headers=operator, data=b"{not json") as r:
        assert r.status == 400
    async with http.post("/api/v1/alerts", headers=operator,
                         json={"source_id": "../../etc"}) as r:
        assert r.status == 404
    async with http.post("/api/v1/alerts", headers=bearer(hub, "viewer"),
                         json={"source_id": "cam-e"}) as r:
        assert r.status == 403
    async with http.get("/api/v1/alerts") as r:
        assert r.status == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
    for bad in ("al_0000000000000000", "al_..%2f..%2fetc", "nope", "al_" + "g" * 16):
        async with http.get(f"/api/v1/alerts/{bad}", headers=operator) as r:
            assert r.status == 404, bad
        async with http.get(f"/api/v1/alerts/{bad}/clip", headers=operator) as r:
            assert r.status == 404, bad
    async with http.post("/api/v1/alerts", headers=operator,
                         json={"source_id": "cam-e", "kind": "fire"}) as r:
        alert_id = (await r.json())["alert_id"]
    async with http.patch(f"/api/v1/alerts/{alert_id}", headers=bearer(hub, "analyst"),
                          json={"review": "maybe"}) as r:
        assert r.status == 422


async def test_manual_alert_of_a_live_source_has_a_snapshot(make_hub, tmp_path) -> None:  # noqa: F811
    from loadtests.camfarm.clips import ClipProfile, make_clip

    clip = await asyncio.to_thread(make_clip, tmp_path / "c.mp4", name="c", seconds=2,
                                   profile=ClipProfile("t", 320, 180, 10, 150_000, gop=10))
    hub = await make_hub(sources=[{"id": "cam-l", "group": "g", "url": f"file://{clip}",
                                   "always_on": True}],
                         pull={"file_roots": [str(tmp_path)]})
    ah = await start_analytics(hub)
    try:
        assert await hub.manager.wait_ready("cam-l", 10)
        await hub.manager.stream("cam-l").wait_keyframe(5)
        headers = bearer(hub, "operator")
        async with aiohttp.ClientSession(ah.base) as http:
            async with http.post("/api/v1/alerts", headers=headers,
                                 json={"source_id": "cam-l", "kind": "smoke"}) as r:
                alert = await r.json()
            async with http.get(alert["snapshot_url"], headers=headers) as r:
                assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
                jpeg = await r.read()
        from io import BytesIO

        from PIL import Image

        assert Image.open(BytesIO(jpeg)).size == (320, 180)
    finally:
        await ah.aclose()
