"""POST /api/v1/sources/{id}/location on a whole hub with its embedded Valkey."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.e2e.conftest import token
from tests.transcode.field_hub import running_field_hub

SOURCES = [
    {"id": "phone1", "group": "fire/brigade1", "kind": "phone", "publish": True},
    {"id": "phone2", "group": "fire/brigade2", "kind": "phone", "publish": True},
]


@pytest.fixture
async def field(tmp_path):
    async with running_field_hub(tmp_path / "hub", sources=SOURCES) as field:
        yield field


async def test_device_reports_its_position(field):
    hub = field.hub
    device = hub.access.issue("device", ["fire/brigade1"], ttl=600, subject="phone1",
                              source="phone1")
    pubsub = hub.redis.client.pubsub()
    await pubsub.subscribe(f"{hub.settings.redis.prefix}live")
    try:
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {device}"}) as http:
            async with http.post(f"{field.base}/api/v1/sources/phone1/location",
                                 json={"lat": 39.9042, "lon": 116.4074,
                                       "accuracy": 12.5}) as resp:
                assert resp.status == 200, await resp.text()
                body = await resp.json()
        assert body["location"]["lat"] == 39.9042 and body["location"]["accuracy"] == 12.5
        source = await hub.registry.get("phone1")
        assert (source.location.lat, source.location.lon) == (39.9042, 116.4074)
        event = None
        async with asyncio.timeout(5):
            while event is None or event.get("type") != "location":
                message = await pubsub.get_message(ignore_subscribe_messages=True,
                                                   timeout=1.0)
                if message is not None:
                    event = json.loads(message["data"])
        assert event == {"v": 1, "type": "location", "source_id": "phone1",
                         "group": "fire/brigade1", "location": body["location"]}
    finally:
        await pubsub.aclose()


async def test_location_is_refused_when_it_should_be(field):
    hub = field.hub
    url = f"{field.base}/api/v1/sources/%s/location"
    device = hub.access.issue("device", ["fire/brigade1"], ttl=600, subject="phone1",
                              source="phone1")
    cases = [
        (device, "phone2", {"lat": 1, "lon": 2}, 404),  # another device's source
        (token(hub, "viewer"), "phone1", {"lat": 1, "lon": 2}, 403),
        (None, "phone1", {"lat": 1, "lon": 2}, 401),
        (device, "phone1", {"lat": 91, "lon": 2}, 422),
        (device, "phone1", {"lat": "1", "lon": 2}, 422),
        (device, "phone1", {"lat": 1}, 422),
        (device, "phone1", {"lat": 1, "lon": 2, "alt": 3}, 422),
        (device, "phone1", {"lat": 1, "lon": 2, "ts": 1.0}, 422),  # clock far off
        (device, "phone1", [1, 2], 400),
        (token(hub, "admin"), "phone2", {"lat": 1, "lon": 2}, 200),
        (device, "phone1", {"lat": 1, "lon": 2}, 200),
        (device, "phone1", {"lat": 1, "lon": 2}, 429),  # again within a second
    ]
    async with aiohttp.ClientSession() as http:
        for bearer, source_id, body, status in cases:
            headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
            async with http.post(url % source_id, json=body, headers=headers) as resp:
                assert resp.status in ((status, 403) if status == 404 else (status,)), \
                    (source_id, body, resp.status, await resp.text())
        async with http.post(url % "phone1", data=b"x" * 5000, headers={
                "Authorization": f"Bearer {device}", "Content-Type": "application/json"}
                ) as resp:
            assert resp.status == 413
    assert (await hub.registry.get("phone2")).location.lat == 1
