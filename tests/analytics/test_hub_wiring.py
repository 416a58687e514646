"""The composition root's analytics wiring (mediaserver/hub/app.py): a hub with analytics enabled
raises an alert over its own HTTP port and /metrics; with a missing model it refuses to start
with an error naming the file; with analytics disabled it runs without any model."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from mediaserver.errors import ConfigError
from tests.analytics.conftest import write_catalog
from tests.e2e.conftest import make_hub, token  # noqa: F401 - fixture

pytestmark = pytest.mark.timeout(60)


async def test_hub_with_analytics_raises_alerts(make_hub, camera_clip, tmp_path) -> None:  # noqa: F811
    hub = await make_hub(
        sources=[{"id": "cam-h", "group": "g", "url": f"file://{camera_clip}",
                  "analytics": {"enabled": True, "interval": 0.4}}],
        pull={"file_roots": [str(camera_clip.parent)]},
        analytics={"enabled": True, "models": write_catalog(tmp_path / "m.yaml"),
                   "threads": 1, "rules": {"k": 2, "n": 2},
                   "evidence": {"pre_roll": 1, "post_roll": 1}})
    headers = {"Authorization": f"Bearer {token(hub, 'viewer')}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{hub.http_port}") as http:
        async with asyncio.timeout(20):
            while True:
                async with http.get("/api/v1/alerts?source=cam-h", headers=headers) as r:
                    body = await r.json()
                if body["total"] and body["items"][0]["clip_url"]:
                    break
                await asyncio.sleep(0.3)
        alert = body["items"][0]
        assert alert["kind"] == "flood" and alert["group"] == "g"
        async with http.get(alert["clip_url"], headers=headers) as r:
            assert r.status == 200 and (await r.read())[4:8] == b"ftyp"
        async with http.get("/metrics") as r:
            text = await r.text()
        assert 'fusionhub_alerts_raised_total{kind="flood"}' in text
        # the detector process's own registry reaches the hub's /metrics
        async with asyncio.timeout(10):
            while (frames := detector_frames(text)) == 0:
                await asyncio.sleep(0.5)
                async with http.get("/metrics") as r:
                    text = await r.text()
        assert frames >= 2  # k=2 positives raised the alert
        assert "# TYPE fusionhub_detector_batch_seconds histogram" in text
        assert "fusionhub_detector_process_resident_memory_bytes " in text


def detector_frames(text: str) -> float:
    for line in text.splitlines():
        if line.startswith("fusionhub_detector_frames_total "):
            return float(line.split()[1])
    return 0


async def test_missing_model_is_a_start_up_error(make_hub, tmp_path) -> None:  # noqa: F811
    models = write_catalog(tmp_path / "m.yaml")
    models.write_text(models.read_text().replace("tiny-cls.onnx", "absent.onnx"))
    with pytest.raises(ConfigError, match="absent.onnx does not exist"):
        await make_hub(analytics={"enabled": True, "models": models})


async def test_hub_runs_without_models_when_analytics_is_disabled(make_hub) -> None:  # noqa: F811
    hub = await make_hub(sources=[{"id": "cam-m", "group": "g", "url": "rtsp://127.0.0.1:9/x"}],
                         analytics={"models": "/nonexistent/models.yaml"})
    assert hub.analytics.service.detector is None  # no model was loaded, no process started
    headers = {"Authorization": f"Bearer {token(hub, 'operator')}"}
    async with aiohttp.ClientSession(f"http://127.0.0.1:{hub.http_port}") as http:
        async with http.get("/api/v1/alerts", headers=headers) as r:
            assert r.status == 200 and (await r.json())["total"] == 0
        # the alert store and API run all the same: a manual alert is raised and listed
        async with http.post("/api/v1/alerts", headers=headers,
                             json={"source_id": "cam-m", "message": "smoke seen"}) as r:
            assert r.status == 201, await r.text()
            raised = await r.json()
        async with http.get("/api/v1/alerts", headers=headers) as r:
            body = await r.json()
        assert body["total"] == 1 and body["items"][0]["alert_id"] == raised["alert_id"]
        assert body["items"][0]["kind"] == "manual"
        async with http.get("/metrics") as r:
            text = await r.text()
    assert "fusionhub_analytics_sources 0" in text
    assert 'fusionhub_alerts_raised_total{kind="manual"} 1' in text
