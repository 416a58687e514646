"""On-demand transcoding end to end: a GStreamer H.265 camera and an H.264 one watched through
WHEP with aiortc viewers, on a whole hub."""

from __future__ import annotations

import asyncio
import time

import pytest

from mediaserver.errors import WhepError
from signalling.clients.whep import WhepClient
from tests.e2e.conftest import token
from tests.transcode.field_hub import running_field_hub

pytestmark = pytest.mark.timeout(100)

LOOPBACK = ("127.0.0.1",)


async def _until(predicate, timeout: float, what: str) -> None:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_h265_camera_shares_one_transcoder_between_two_viewers(tmp_path, gst_camera,
                                                                     gst_element):
    if not gst_element("x265enc"):
        pytest.skip("system GStreamer has no x265enc (gstreamer1.0-plugins-bad)")
    cam = gst_camera(codec="h265", width=320, height=240, fps=15)
    sources = [{"id": "hevc1", "group": "g", "url": cam.url}]
    async with running_field_hub(tmp_path / "hub", sources=sources) as field:
        hub, url = field.hub, f"{field.base}/whep/hevc1"
        viewer_token = token(hub)
        async with WhepClient(url, token=viewer_token, host_addresses=LOOPBACK) as first, \
                WhepClient(url, token=viewer_token, host_addresses=LOOPBACK) as second:
            await first.wait_frames(10, timeout=20)
            await second.wait_frames(10, timeout=20)
            active = field.transcoders.active()
            assert [(t.source_id, t.profile_name) for t in active] == [("hevc1", "h264")]
            assert field.transcoders.started == 1
            assert active[0].source_codec == "h265"
            assert active[0].stats.encoded > 0 and active[0].stats.cpu_seconds > 0
            assert (first.width, first.height) == (320, 240)
            derived = field.transcoders.stream("hevc1~h264")
            assert derived is not None and derived.subscriber_count == 2
            assert hub.manager.stream("hevc1").track.codec == "h265"
        # both left: the transcoder stops after close_after (1 s), and with it its
        # subscription to the camera
        await _until(lambda: not field.transcoders.active(), 10, "transcoder to stop")
        await _until(lambda: hub.manager.stream("hevc1") is None
                     or hub.manager.stream("hevc1").subscriber_count == 0, 10,
                     "camera subscription to end")
        assert field.transcoders.metrics()["active"] == 0


async def test_sub_profile_gives_640x360_and_unknown_profile_is_refused(tmp_path,
                                                                         gst_camera):
    cam = gst_camera(width=1280, height=720, fps=15)
    sources = [{"id": "cam1", "group": "g", "url": cam.url}]
    async with running_field_hub(tmp_path / "hub", sources=sources) as field:
        hub, base = field.hub, f"{field.base}/whep/cam1"
        viewer_token = token(hub)
        with pytest.raises(WhepError) as err:
            await WhepClient(base + "?profile=nope", token=viewer_token,
                             host_addresses=LOOPBACK).start()
        assert err.value.status == 400 and "unknown profile" in err.value.body
        async with WhepClient(base + "?profile=sub", token=viewer_token,
                              host_addresses=LOOPBACK) as sub, \
                WhepClient(base, token=viewer_token, host_addresses=LOOPBACK) as full:
            await sub.wait_frames(15, timeout=20)
            await full.wait_frames(5, timeout=20)
            assert (sub.width, sub.height) == (640, 360)
            assert (full.width, full.height) == (1280, 720)
            # the original stays H.264 passthrough: only the sub profile is transcoded
            assert [t.profile_name for t in field.transcoders.active()] == ["sub"]
            track = field.transcoders.stream("cam1~sub").track
            assert (track.codec, track.width, track.height) == ("h264", 640, 360)
