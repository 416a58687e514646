"""Evidence for every alarm: a manual alarm on an idle camera starts it and gets a snapshot and
a clip (checked with ffprobe); a pushed source without a publisher gets the reason instead of
URLs that 404; the device cancels its own false alarm."""

from __future__ import annotations

import asyncio
import json
import subprocess

import aiohttp
import pytest

from tests.analytics.harness import data_path, start_analytics
from tests.e2e.conftest import make_hub, token  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(90)


async def _wait_alert(http, alert_id, headers, predicate, timeout=30.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with http.get(f"/api/v1/alerts/{alert_id}", headers=headers) as r:
            alert = await r.json()
        if predicate(alert):
            return alert
        assert asyncio.get_running_loop().time() < deadline, alert
        await asyncio.sleep(0.2)


async def test_manual_alarm_on_an_idle_camera_gets_snapshot_and_clip(make_hub, tmp_path):  # noqa: F811
    from loadtests.camfarm.clips import ClipProfile, make_clip

    clip = await asyncio.to_thread(make_clip, tmp_path / "c.mp4", name="c", seconds=4,
                                   profile=ClipProfile("t", 320, 180, 10, 150_000, gop=10))
    hub = await make_hub(sources=[{"id": "cam-idle", "group": "g", "url": f"file://{clip}"},
                                  {"id": "phone-9", "group": "g", "kind": "phone",
                                   "publish": True}],
                         pull={"file_roots": [str(tmp_path)]})
    ah = await start_analytics(hub, evidence={"pre_roll": 1.0, "post_roll": 2.0})
    ah.analytics.service.on_demand.keyframe_timeout = 2.0
    try:
        assert hub.manager.stream("cam-idle") is None  # nobody watches it
        headers = {"Authorization": f"Bearer {token(hub, 'operator', ('*',))}"}
        async with aiohttp.ClientSession(ah.base) as http:
            async with http.post("/api/v1/alerts", headers=headers,
                                 json={"source_id": "cam-idle", "kind": "manual"}) as r:
                assert r.status == 201
                alert = await r.json()
            assert alert["snapshot_url"] is None and alert["evidence"]["clip"] == "pending"
            done = await _wait_alert(http, alert["alert_id"], headers,
                                     lambda a: a["clip_url"] and a["snapshot_url"])
            assert done["evidence"] == {"snapshot": "ready", "clip": "ready", "reason": None}
            async with http.get(done["snapshot_url"], headers=headers) as r:
                assert r.status == 200 and (await r.read())[:2] == b"\xff\xd8"
            record = await hub.redis.client.hgetall(f"fh:alert:{alert['alert_id']}")
            probe = json.loads(subprocess.run(
                ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json",
                 str(data_path(hub, record["clip"]))], capture_output=True, text=True,
                timeout=30, check=True).stdout)
            assert probe["streams"][0]["codec_name"] == "h264"
            assert float(probe["format"]["duration"]) >= 1.5

            # a pushed source with no publisher: the alert says why, no dangling URLs
            device = {"Authorization": "Bearer " + hub.access.issue(
                "device", (), ttl=60, subject="phone-9", source="phone-9")}
            async with http.post("/api/v1/alerts", headers=device,
                                 json={"source_id": "phone-9", "kind": "manual"}) as r:
                alert = await r.json()
            failed = await _wait_alert(http, alert["alert_id"], device,
                                       lambda a: a["evidence"]["reason"])
            assert failed["snapshot_url"] is None and failed["clip_url"] is None
            assert failed["evidence"]["snapshot"] == "unavailable"
            # the device withdraws its false alarm; the second time is a conflict
            async with http.post(f"/api/v1/alerts/{alert['alert_id']}/cancel",
                                 headers=device) as r:
                cancelled = await r.json()
            assert (cancelled["state"], cancelled["review"], cancelled["cancelled_by"]) == \
                ("resolved", "false_alarm", "phone-9")
            async with http.post(f"/api/v1/alerts/{alert['alert_id']}/cancel",
                                 headers=device) as r:
                assert r.status == 409
    finally:
        await ah.aclose()
