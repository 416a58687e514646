"""Playback of recordings on the wall, in headless Chromium against a hub that records two
real RTSP cameras: a tile switches to playback from its timeline (recorded ranges drawn), a
30 s range plays, speeds ×4, back to live in one click, two tiles in sync, and "play from
5 min before" from an alert in the feed and on /review."""

from __future__ import annotations

import time

import pytest

from tests.web.conftest import wait_until
from tests.web.pages import open_wall, playing

pytestmark = pytest.mark.timeout(180)

RANGES_JS = """async (id) => (await (await fetch(
  `/api/v1/sources/${id}/recordings?from=${Date.now() / 1000 - 3600}`)).json())"""
PB_JS = """(i) => { const p = window.fusionhub.wall.tiles[i].playback; const v = p.video;
  return {active: p.active, ready: v.readyState, width: v.videoWidth, time: v.currentTime,
          rate: v.playbackRate, wall: p.wallTime(), src: v.currentSrc,
          error: v.error ? v.error.code : null,
          frames: v.getVideoPlaybackQuality().totalVideoFrames}; }"""


def pb(page, index: int = 0) -> dict:
    return page.evaluate(PB_JS, index)


def recorded(page, source_id: str) -> dict:
    return page.evaluate(RANGES_JS, source_id)


@pytest.fixture(scope="module")
def recording_hub(web_env):
    web_env.start_recording_hub()
    return web_env


def test_playback_on_the_wall(recording_hub, new_page):
    env = recording_hub
    page = new_page()
    open_wall(page, env.recording_url, "?layout=4&sources=cam003,cam004")
    playing(page, 2)
    wait_until(lambda: recorded(page, "cam003")["recorded"] >= 36
               and recorded(page, "cam004")["recorded"] >= 36, 90, interval=1.0,
               message="36 s recorded on both cameras")
    rng = recorded(page, "cam003")["ranges"][0]

    # the tile's ⏪ opens the timeline with the recorded range drawn; a click on it plays
    tile = page.locator(".tile").nth(0)
    tile.hover()
    tile.locator(".t-rec").click()
    page.wait_for_selector('.tile[data-mode="playback"] .pb-timeline')
    wait_until(lambda: tile.locator(".pb").get_attribute("data-ranges") == "1", 10,
               message="ranges on the timeline")
    page.evaluate("() => { const tl = window.fusionhub.wall.tiles[0].playback.timeline; "
                  f"tl.setView({rng['start'] - 20}, {rng['end'] + 20}); }}")
    x = page.evaluate(f"() => window.fusionhub.wall.tiles[0].playback.timeline.xAt("
                      f"{rng['start'] + 3})")
    box = tile.locator(".pb-timeline").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + box["height"] / 2)
    wait_until(lambda: pb(page)["width"] == 640 and pb(page)["time"] > 1, 20,
               message="playback picture")
    state = pb(page)
    assert "/api/v1/sources/cam003/playback?from=" in state["src"]
    assert rng["start"] <= state["wall"] <= rng["start"] + 10
    # the live session is suspended while the tile plays back
    assert page.get_attribute(".tile >> nth=0", "data-phase") == "playback"

    # a 30 s range plays through: about 30 s of pictures at ×8, then the end of the recording
    page.evaluate(f"() => window.fusionhub.wall.tiles[0].playback.playFrom({rng['start'] + 2})")
    tile.locator('.pb-speed[data-speed="8"]').click()
    wait_until(lambda: pb(page)["time"] >= 30, 30, message="30 s of recording played")
    state = pb(page)
    assert state["rate"] == 8 and state["error"] is None and state["frames"] >= 100
    assert state["wall"] == pytest.approx(rng["start"] + 2 + state["time"], abs=1.5)
    tile.locator('.pb-speed[data-speed="1"]').click()

    # two tiles in sync: a pick in one plays the same moment in the other
    other = page.locator(".tile").nth(1)
    other.hover()
    other.locator(".t-rec").click()
    page.wait_for_selector('.tile >> nth=1 >> .pb-timeline')
    tile.locator(".pb-sync").check()
    other.locator(".pb-sync").check()
    at = max(rng["start"], recorded(page, "cam004")["ranges"][0]["start"]) + 5
    page.evaluate(f"() => window.fusionhub.wall.tiles[0].playback.pick({at})")
    wait_until(lambda: pb(page, 0)["time"] > 2 and pb(page, 1)["time"] > 2, 20,
               message="both tiles playing")
    assert abs(pb(page, 0)["wall"] - pb(page, 1)["wall"]) < 2.0

    # back to live in one click
    tile.locator(".pb-live").click()
    wait_until(lambda: not pb(page)["active"], 5, message="left playback")
    assert page.get_attribute(".tile >> nth=0", "data-mode") is None
    playing(page, 1, only={"cam003"})  # the other tile still plays back


def test_play_from_five_minutes_before_an_alert(recording_hub, new_page):
    env = recording_hub
    page = new_page()
    open_wall(page, env.recording_url, "?layout=4&sources=cam004")
    wait_until(lambda: recorded(page, "cam004")["recorded"] >= 10, 90, interval=1.0,
               message="10 s recorded")
    alert = page.evaluate("""async () => (await (await fetch('/api/v1/alerts', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({source_id: 'cam004', kind: 'manual', message: 'test'})})).json())""")
    page.click(f'#feed [data-alert-id="{alert["alert_id"]}"]')
    page.wait_for_selector("#clipview .cv-playback")
    page.click("#clipview .cv-playback")
    # less than 5 minutes are recorded: playback starts at the first recorded picture
    wait_until(lambda: pb(page)["active"] and pb(page)["width"] == 640, 20,
               message="alert playback")
    first = recorded(page, "cam004")["ranges"][0]["start"]
    assert pb(page)["wall"] == pytest.approx(first, abs=3.0)
    assert page.locator("#clipview").is_hidden()

    # the review page links to the same
    page.goto(f"{env.recording_url}/review#{alert['alert_id']}")
    link = page.wait_for_selector("a.d-playback")
    href = link.get_attribute("href")
    assert "sources=cam004" in href and f"at={round(alert['raised_at'] - 300)}" in href
    page.goto(env.recording_url + href)
    page.wait_for_selector("body[data-ready='1']")
    wait_until(lambda: pb(page)["active"] and pb(page)["width"] == 640, 20,
               message="playback from the review link")
    assert time.time() - pb(page)["wall"] < 600
