"""The fast relay end to end: GStreamer RTSP cameras (H.264, and H.265 through the shared
transcoder), the hub, aiortc viewers that decode and light viewers that ask for keyframes."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from loadtests.light_viewer import LightViewer
from signalling.whep_client import WhepClient
from tests.e2e.conftest import token

pytestmark = pytest.mark.timeout(120)
LOOPBACK = ("127.0.0.1",)


async def until(predicate, timeout: float) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("codec", ["h264", "h265"])
@pytest.mark.parametrize("audio", [False, True], ids=["video", "video+audio-offer"])
async def test_aiortc_viewer_decodes_the_relayed_camera(make_hub, gst_camera, gst_element,
                                                        codec, audio):
    if codec == "h265" and not gst_element("x265enc"):
        pytest.fail("x265enc missing: scripts/ensure-system-deps.sh installs it")
    cam = gst_camera(codec=codec, width=320, height=240)
    hub = await make_hub(sources=[{"id": "cam1", "name": "c", "group": "g", "url": cam.url}])
    url = f"http://127.0.0.1:{hub.http_port}/whep/cam1"
    async with WhepClient(url, token=token(hub), host_addresses=LOOPBACK,
                          audio=audio) as viewer:
        await viewer.wait_frames(25, timeout=40)
        assert (viewer.width, viewer.height) == (320, 240)
    relay = hub.whep.relay.counters
    assert relay.sessions == 1 and relay.fallback_sessions == 0 and relay.packets_sent > 0


async def test_pli_from_a_viewer_makes_the_camera_send_a_keyframe(make_hub, gst_camera):
    cam = gst_camera(codec="h264", width=320, height=240, gop=1500)  # one keyframe a minute
    hub = await make_hub(sources=[{"id": "cam1", "name": "c", "group": "g", "url": cam.url}])
    base = f"http://127.0.0.1:{hub.http_port}"
    async with aiohttp.ClientSession() as http:
        viewer = LightViewer(f"{base}/whep/cam1", token=token(hub), host_addresses=LOOPBACK,
                             http=http)
        try:
            await viewer.start()
            await until(lambda: viewer.counter.keyframes == 1 and viewer.counter.frames > 30,
                        30)
            stream = hub.manager.stream("cam1")
            await until(lambda: time.monotonic() - stream.keyframe_at > 1.0, 10)
            keyframes = stream.stats.keyframes_in
            assert await viewer.request_keyframe()
            # the camera's next keyframe is a minute away: this one answers the PLI
            await asyncio.wait_for(viewer.keyframe_event.wait(), 20)
            assert stream.stats.keyframes_in > keyframes
            assert stream.keyframe_requests.sent == 1
            assert hub.whep.relay.counters.keyframes_from_upstream == 1
            async with http.get(f"{base}/metrics",
                                headers={"Authorization": f"Bearer {token(hub, 'admin')}"}
                                ) as resp:
                text = await resp.text()
            assert ('fusionhub_keyframe_requests_total{result="sent",source="cam1"} 1'
                    in text)
            assert "fusionhub_relay_retransmitted_packets_total" in text
        finally:
            await viewer.close()
