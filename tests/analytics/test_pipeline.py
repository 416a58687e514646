"""End to end: file:// camera → sampler → detector process (tiny YOLOv8 exported by
ultralytics, ONNX Runtime) → alert engine → alert in fh:events:alerts → fMP4 clip that ffprobe
reads with the expected duration → review round trip over the API."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import aiohttp
import pytest

from analytics.examples.dispatch_consumer import ensure_group
from analytics.metrics import analytics_collector
from mediaserver.metrics import Metrics
from tests.analytics.conftest import write_catalog
from tests.analytics.harness import data_path, start_analytics
from tests.e2e.conftest import make_hub, token  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)

PRE, POST = 2.0, 2.0


def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
                          "format=duration,format_name:stream=codec_name,width,height,"
                          "nb_read_frames", "-of", "json", str(path)],
                         capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


async def read_events(redis, group: str, want, timeout: float) -> list[dict]:
    """Read the alerts stream as a consumer group until ``want(events)``; XACK each."""
    events: list[dict] = []
    async with asyncio.timeout(timeout):
        while not want(events):
            reply = await redis.xreadgroup(group, "t", {"fh:events:alerts": ">"}, count=50,
                                           block=500)
            for _, entries in reply or []:
                for entry_id, fields in entries:
                    events.append({**fields, "data": json.loads(fields["data"])})
                    await redis.xack("fh:events:alerts", group, entry_id)
    return events


async def test_file_source_to_reviewed_alert_with_clip(make_hub, camera_clip, tmp_path):  # noqa: F811
    source = {"id": "cam-a", "group": "city/east", "url": f"file://{camera_clip}",
              "analytics": {"enabled": True, "interval": 0.5, "classes": ["flood"]}}
    hub = await make_hub(sources=[source], pull={"file_roots": [str(camera_clip.parent)]})
    redis = hub.redis.client
    await ensure_group(redis, "fh:events:alerts", "test")
    ah = await start_analytics(
        hub, enabled=True, models=write_catalog(tmp_path / "models.yaml"), interval=0.5,
        budget=10, threads=1, rules={"k": 5, "n": 5, "resolve_after": 100},
        evidence={"pre_roll": PRE, "post_roll": POST, "fragment": 0.5})
    try:
        # 5 positive samples at 0.5 s: raised after ~2.5 s, with a full pre-roll
        events = await read_events(redis, "test", lambda ev: any(
            e["event"] == "updated" and e["data"]["clip_url"] for e in ev), 25)
        raised = events[0]
        assert (raised["v"], raised["type"], raised["event"]) == ("1", "alert", "raised")
        alert = raised["data"]
        alert_id = alert["alert_id"]
        assert raised["alert_id"] == alert_id and raised["source_id"] == "cam-a"
        assert alert["kind"] == "flood" and alert["state"] == "raised"
        assert alert["group"] == "city/east" and alert["clip_url"] is None
        assert "snapshot" not in alert and "clip" not in alert
        assert [e["alert_id"] for e in events] == [alert_id] * len(events)

        record = await redis.hgetall(f"fh:alert:{alert_id}")
        # snapshot written before the alert was published; clip attached later
        jpeg = data_path(hub, record["snapshot"]).read_bytes()
        assert jpeg[:2] == b"\xff\xd8"
        clip = data_path(hub, record["clip"])
        probe = ffprobe(clip)
        stream = probe["streams"][0]
        assert (stream["codec_name"], stream["width"], stream["height"]) == ("h264", 320, 180)
        duration = float(probe["format"]["duration"])
        # pre-roll starts at a keyframe (1 s GOP): PRE..PRE+1 s before, POST after
        assert PRE + POST - 0.3 <= duration <= PRE + 1 + POST + 0.3, duration
        assert int(stream["nb_read_frames"]) == pytest.approx(duration * 10, abs=2)
        print(f"clip {duration:.2f} s; alert delay after sample "
              f"{ah.analytics.service.delays[0] * 1000:.0f} ms")

        # the API: review round trip, scoped access
        analyst = {"Authorization": f"Bearer {token(hub, 'analyst', ('city',))}"}
        outsider = {"Authorization": f"Bearer {token(hub, 'viewer', ('city/west',))}"}
        async with aiohttp.ClientSession(ah.base) as http:
            async with http.get(f"/api/v1/alerts/{alert_id}", headers=analyst) as r:
                assert r.status == 200
                got = await r.json()
                assert got["clip_url"] == f"/api/v1/alerts/{alert_id}/clip"
            async with http.get(f"/api/v1/alerts/{alert_id}", headers=outsider) as r:
                assert r.status == 404
            async with http.get(f"/api/v1/alerts/{alert_id}/clip",
                                headers={**analyst, "Range": "bytes=0-99"}) as r:
                assert r.status == 206 and r.headers["Content-Type"] == "video/mp4"
                assert r.headers["Content-Range"].startswith("bytes 0-99/")
                assert len(await r.read()) == 100
            async with http.patch(f"/api/v1/alerts/{alert_id}", headers=analyst,
                                  json={"review": "false_alarm", "comment": "river mist"}) as r:
                assert r.status == 200
                got = await r.json()
                assert (got["review"], got["reviewer"], got["comment"]) == \
                    ("false_alarm", "e2e", "river mist")
        reviewed = await read_events(redis, "test",
                                     lambda ev: any(e["event"] == "reviewed" for e in ev), 5)
        assert reviewed[-1]["data"]["review"] == "false_alarm"
        # the sampler is a subscriber: the unwatched file source stays open
        assert hub.manager.stream("cam-a") is not None
        sampler = ah.analytics.service.samplers["cam-a"]
        assert sampler.sampled >= 5
        metrics = Metrics()
        metrics.add_collector(analytics_collector(ah.analytics))
        text = metrics.render()
        assert 'fusionhub_alerts_raised_total{kind="flood"} 1' in text
        assert 'fusionhub_alert_clips_total{result="written"} 1' in text
    finally:
        await ah.aclose()
