"""Chromium decodes the fast relay's stream: the wall's video plays, a viewer offering audio
and video plays, an H.265 camera plays (through the shared transcoder, whose H.264 the fast
path sends), and the hub's metrics say the fast path — not aiortc's sender — sent them."""

from __future__ import annotations

import re

import pytest

from tests.web import harness as h
from tests.web.conftest import wait_until
from tests.web.pages import open_wall, playing

METRICS_JS = "async () => (await fetch('/metrics')).text()"
HEVC_PORT = 8557

#: a WHEP viewer in the page (recvonly video, and audio when asked), like the wall's but bare
WHEP_JS = """async ([url, audio]) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  if (audio) pc.addTransceiver("audio", {direction: "recvonly"});
  const video = document.createElement("video");
  video.muted = true; video.autoplay = true; video.playsInline = true;
  document.body.appendChild(video);
  pc.ontrack = (e) => {
    if (e.track.kind === "video") video.srcObject = new MediaStream([e.track]);
  };
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise((done) => {
    if (pc.iceGatheringState === "complete") return done();
    pc.onicegatheringstatechange = () => pc.iceGatheringState === "complete" && done();
    setTimeout(done, 3000);
  });
  const resp = await fetch(url, {method: "POST", headers: {"Content-Type": "application/sdp"},
                                 body: pc.localDescription.sdp});
  const answer = await resp.text();
  if (resp.status !== 201) return {status: resp.status, answer};
  await pc.setRemoteDescription({type: "answer", sdp: answer});
  window.relayViewer = {pc, video};
  return {status: resp.status, answer};
}"""
VIEWER_JS = """() => { const v = window.relayViewer.video;
  return {width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames}; }"""


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def _decodes(page, timeout: float = 40.0) -> dict:
    wait_until(lambda: page.evaluate(VIEWER_JS)["frames"] > 0, timeout, message="decoding")
    first = page.evaluate(VIEWER_JS)["frames"]
    wait_until(lambda: page.evaluate(VIEWER_JS)["frames"] > first + 10, 20,
               message="frames keep coming")
    return page.evaluate(VIEWER_JS)


def test_chromium_plays_the_fast_relay(web_env, new_page):
    page = new_page(1280, 720)
    open_wall(page, web_env.demo_url, "?layout=1&sources=cam004")
    result = playing(page, 1, seconds=2.0)
    assert [v["id"] for v in result.values()] == ["cam004"]
    text = page.evaluate(METRICS_JS)
    assert _metric(text, "fusionhub_relay_sessions_total") >= 1
    assert _metric(text, "fusionhub_relay_fallback_sessions_total") == 0
    assert _metric(text, "fusionhub_relay_packets_total") > 0


def test_chromium_offering_audio_and_video_plays_the_video(web_env, new_page):
    page = new_page(640, 480)
    open_wall(page, web_env.demo_url)
    answer = page.evaluate(WHEP_JS, ["/whep/cam001", True])
    assert answer["status"] == 201, answer["answer"]
    assert "m=audio" in answer["answer"]  # the camera has no audio: the m-line is inactive
    assert _decodes(page)["width"] > 0


@pytest.fixture(scope="module")
def hevc_camera(web_env):
    farm = h.start_camfarm(web_env.ns, web_env.tmp, name="hevc-farm", prefix="hevc", count=1,
                           port=HEVC_PORT, codec="h265")
    web_env.procs.append(farm)
    try:
        yield f"rtsp://127.0.0.1:{HEVC_PORT}/hevc001"
    finally:
        farm.stop()


def test_chromium_plays_an_h265_camera(web_env, new_page, hevc_camera):
    page = new_page(640, 480)
    open_wall(page, web_env.demo_url)
    created = h.api(page, "POST", "/api/v1/sources", {
        "id": "hevc001", "name": "H.265 camera", "group": "city/chaoyang", "kind": "camera",
        "url": hevc_camera})
    assert created["status"] in (200, 201), created["text"]
    try:
        before = _metric(page.evaluate(METRICS_JS), "fusionhub_relay_sessions_total")
        answer = page.evaluate(WHEP_JS, ["/whep/hevc001", False])
        assert answer["status"] == 201, answer["answer"]
        assert _decodes(page)["width"] > 0
        text = page.evaluate(METRICS_JS)
        assert _metric(text, "fusionhub_relay_sessions_total") > before
        assert _metric(text, "fusionhub_relay_fallback_sessions_total") == 0
    finally:
        page.evaluate("() => window.relayViewer && window.relayViewer.pc.close()")
        h.api(page, "DELETE", "/api/v1/sources/hevc001")
