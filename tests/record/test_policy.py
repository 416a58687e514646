"""Recording policies: source field over the longest group default over the node default,
weekly schedules, and on-alert recording (pre-roll + post-roll around a real alert raised
through the API) of a camera nobody watches; changing the policy through the API applies."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import aiohttp
import pytest

from mediaserver.config import SourceConfig
from mediaserver.config.recording import RecordingConfig, RecordingPolicy
from mediaserver.record.policy import policy_for, wanted_mode
from tests.record.conftest import token

pytestmark = pytest.mark.timeout(90)


def test_policy_resolution_and_schedule() -> None:
    config = RecordingConfig(default={"mode": "off"}, groups={
        "city": {"mode": "on-alert"}, "city/plant": {"mode": "continuous"}})
    assert policy_for(SourceConfig(id="a", group="city/plant/gate"), config).mode == \
        "continuous"
    assert policy_for(SourceConfig(id="b", group="city/other"), config).mode == "on-alert"
    assert policy_for(SourceConfig(id="c", group="citywide"), config).mode == "off"
    own = SourceConfig(id="d", group="city/plant", recording={"mode": "off"})
    assert policy_for(own, config).mode == "off"

    office = RecordingPolicy(mode="schedule", schedule=[
        {"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "18:00"}])
    monday_9 = dt.datetime(2026, 11, 30, 9, 0).timestamp()  # local time, a Monday
    assert wanted_mode(office, monday_9) == "continuous"
    assert wanted_mode(office, monday_9 + 10 * 3600) == "off"  # 19:00
    assert wanted_mode(office, monday_9 + 5 * 86_400) == "off"  # Saturday
    with pytest.raises(ValueError):
        RecordingPolicy(mode="schedule")
    with pytest.raises(ValueError):
        RecordingPolicy(mode="schedule", schedule=[{"start": "18:00", "end": "08:00"}])


async def test_on_alert_records_pre_and_post_roll(make_hub, gst_camera):
    cam = gst_camera(width=320, height=240, fps=25, gop=25, bitrate=250)
    hub = await make_hub(sources=[{"id": "oa1", "group": "site/a", "url": cam.url,
                                   "recording": {"mode": "on-alert"}}],
                         recording={"pre_roll": 3, "post_roll": 4, "fragment": 0.5})
    base = f"http://127.0.0.1:{hub.http_port}"
    headers = {"Authorization": f"Bearer {token(hub, 'admin')}"}
    async with asyncio.timeout(20):  # pulled without viewers, nothing written yet
        while not (hub.manager.stream("oa1") and hub.manager.stream("oa1").publishing):
            await asyncio.sleep(0.2)
    await asyncio.sleep(5)
    recorder = hub.recordings.recorders["oa1"]
    assert not recorder.recording and hub.recordings.stats["segments"] == 0
    async with aiohttp.ClientSession(headers=headers) as http:
        raised = time.time()
        async with http.post(f"{base}/api/v1/alerts", json={"source_id": "oa1",
                                                            "kind": "manual"}) as resp:
            assert resp.status == 201, await resp.text()
        async with asyncio.timeout(20):
            while hub.recordings.stats["segments"] < 1:
                await asyncio.sleep(0.2)
        async with http.get(f"{base}/api/v1/sources/oa1/recordings") as resp:
            body = await resp.json()
        print("on-alert range:", body["ranges"])
        assert len(body["ranges"]) == 1
        rng = body["ranges"][0]
        # the pre-roll starts at a keyframe at least 3 s before the alert
        assert raised - 5 <= rng["start"] <= raised - 2.5
        assert raised + 3 <= rng["end"] <= raised + 6.5
        assert body["policy"] == "on-alert"

        # the policy changes through the API: recording stops, the camera is let go
        async with http.patch(f"{base}/api/v1/sources/oa1",
                              json={"recording": {"mode": "off"}}) as resp:
            assert resp.status == 200
        assert "oa1" not in hub.recordings.recorders
        async with http.patch(f"{base}/api/v1/sources/oa1",
                              json={"recording": {"mode": "continuous"}}) as resp:
            assert resp.status == 200
        assert hub.recordings.recorders["oa1"].mode == "continuous"
