"""The video wall in headless Chromium against a real hub, real RTSP cameras and real WebRTC:
tree colours, click to play, a 16-tile deep link, a camera killed and restarted, layouts saved
per user, the language toggle."""

from __future__ import annotations

import time

import pytest

from tests.web.conftest import CAMERAS, DEAD, FLAKY, wait_until
from tests.web.pages import BLUE, GREY, dot, open_wall, playing

pytestmark = pytest.mark.timeout(120)

def test_tree_shows_groups_and_colours_and_a_click_plays(web_env, new_page):
    page = new_page()
    open_wall(page, web_env.demo_url)
    # demo mode says so
    assert page.is_visible("#demo-banner")
    # every source in its group, with counts (subgroups included)
    for sid, name, _group in CAMERAS:
        assert page.text_content(f'.row.item[data-source-id="{sid}"] .name') == name
    assert page.is_visible('.row.group[data-group="city/chaoyang"]')
    # probed cameras turn blue, the one nobody answers for stays grey
    wait_until(lambda: all(dot(page, sid) == BLUE for sid, _, _ in CAMERAS), 10,
               message="cameras blue")
    assert dot(page, DEAD[0]) == GREY
    assert page.text_content('.row.group[data-group="city"] .count') == "5 / 6"
    assert page.text_content('.row.group[data-group="city/riverside"] .count') == "1 / 2"

    # a click plays the source in the first empty tile
    page.click('.row.item[data-source-id="cam002"]')
    page.wait_for_selector('video[data-source-id="cam002"]')
    result = playing(page, 1)
    assert result["0"]["width"] == 640 and result["0"]["first"] is not None
    # the overlay shows name, state, resolution, fps and bitrate
    tile = page.locator('.tile[data-source-id="cam002"]')
    assert tile.locator(".t-name").text_content() == "朝阳 广场"
    wait_until(lambda: "640×360" in tile.locator(".t-info").text_content()
               and "fps" in tile.locator(".t-info").text_content()
               and "bit/s" in tile.locator(".t-info").text_content(), 5, message="overlay")
    # the hub now pulls it: the tree item shows it live (state within 2 s)
    wait_until(lambda: page.get_attribute('.row.item[data-source-id="cam002"]', "data-state")
               == "streaming", 3, message="streaming state")
    # the wall is a deep link
    assert "layout=4" in page.url and "sources=cam002" in page.url

    # search by name and by id, filter by state
    page.fill("#search", "海淀")
    wait_until(lambda: page.locator(".row.item:visible").count() == 2, 3, message="search")
    page.fill("#search", "dead")
    wait_until(lambda: page.locator(".row.item:visible").count() == 1, 3, message="search id")
    page.fill("#search", "")
    page.select_option("#state-filter", "offline")
    wait_until(lambda: [r.get_attribute("data-source-id") for r in
                        page.locator(".row.item:visible").all()] == [DEAD[0]], 3,
               message="state filter")

    # close the tile
    page.hover('.tile[data-source-id="cam002"]')
    page.click('.tile[data-source-id="cam002"] .t-close')
    assert page.locator("video[data-source-id]").count() == 0
    assert "sources=&" in page.url or page.url.endswith("sources=")


def test_deep_link_with_16_tiles_plays_16_live_streams(web_env, new_page):
    page = new_page(1920, 1080)
    ids = [CAMERAS[i % len(CAMERAS)][0] for i in range(16)]
    open_wall(page, web_env.demo_url, f"?layout=16&sources={','.join(ids)}")
    assert page.locator('.tile:not([hidden])').count() == 16
    result = playing(page, 16, seconds=3.0)
    assert sorted(v["id"] for v in result.values()) == sorted(ids)
    firsts = sorted(v["first"] for v in result.values())
    print(f"16 tiles: first frames after {firsts[0]}..{firsts[-1]} ms")
    # double-click: full screen (or maximised where the browser refuses full screen)
    page.dblclick('.tile[data-index="5"]')
    wait_until(lambda: page.evaluate("() => !!document.fullscreenElement || "
                                     "!!document.querySelector('.tile.maximized')"), 3,
               message="full screen")
    page.keyboard.press("Escape")


def test_killed_camera_turns_grey_and_its_tile_reconnects(web_env, new_page):
    page = new_page()
    sid = FLAKY[0]
    open_wall(page, web_env.demo_url, f"?layout=1&sources={sid}")
    playing(page, 1)
    tile = '.tile[data-source-id="flaky001"]'
    web_env.stop_flaky()
    killed = time.monotonic()
    wait_until(lambda: dot(page, sid) == GREY, 8, message="grey after the camera died")
    print(f"tree grey {time.monotonic() - killed:.1f} s after the camera was killed")
    wait_until(lambda: page.get_attribute(tile, "data-phase") in ("stalled", "reconnecting"), 8,
               message="tile says it is reconnecting")
    assert page.is_visible(f"{tile} .t-msg")
    assert page.text_content(f"{tile} .t-msg")

    web_env.start_flaky()
    back = time.monotonic()
    wait_until(lambda: dot(page, sid) == BLUE, 15, message="blue again")
    wait_until(lambda: page.get_attribute(tile, "data-phase") == "playing", 20,
               message="tile playing again")
    print(f"tile playing again {time.monotonic() - back:.1f} s after the camera returned")
    playing(page, 1)
    assert not page.is_visible(f"{tile} .t-msg")


def test_layouts_are_saved_per_user_and_restored(web_env, new_page):
    page = new_page()
    open_wall(page, web_env.demo_url, "?layout=9&sources=cam001,,cam003")
    assert page.get_attribute("#wall", "data-layout") == "9"
    assert page.locator("video[data-source-id]").count() == 2
    # drag a source onto tile 5
    page.drag_and_drop('.row.item[data-source-id="cam004"]', '.tile[data-index="4"]')
    page.wait_for_selector('.tile[data-index="4"] video[data-source-id="cam004"]')
    assert "sources=cam001%2C%2Ccam003%2C%2Ccam004" in page.url \
        or "sources=cam001,,cam003,,cam004" in page.url
    # save a named layout
    page.once("dialog", lambda d: d.accept("值班墙"))
    page.click("#save-preset")
    stored = page.evaluate("() => JSON.parse(localStorage.getItem('fh.wall.demo'))")
    assert stored["saved"]["值班墙"] == {"layout": 9,
                                        "sources": ["cam001", "", "cam003", "", "cam004",
                                                    "", "", "", ""]}
    # switching layouts keeps the assignment; a plain reload restores the last wall
    page.click('#layouts button[data-layout="1"]')
    assert page.locator("video[data-source-id]").count() == 1
    page.goto(web_env.demo_url + "/")
    page.wait_for_selector("body[data-ready='1']")
    assert page.get_attribute("#wall", "data-layout") == "1"
    page.select_option("#preset", "值班墙")
    assert page.get_attribute("#wall", "data-layout") == "9"
    assert page.locator("video[data-source-id]").count() == 3


def test_language_toggle_and_both_languages_complete(web_env, new_page):
    page = new_page()
    open_wall(page, web_env.demo_url)
    assert page.evaluate("document.documentElement.lang") == "zh-CN"
    assert page.text_content('[data-i18n="alarms"]') == "告警"
    missing = page.evaluate("""async () => {
      const m = await import('/static/js/i18n.js');
      const zh = Object.keys(m.TEXT_TABLES['zh-CN']), en = Object.keys(m.TEXT_TABLES.en);
      return [zh.filter(k => !en.includes(k)), en.filter(k => !zh.includes(k))]; }""")
    assert missing == [[], []]
    page.click("#lang")
    page.wait_for_selector("body[data-ready='1']")
    assert page.evaluate("document.documentElement.lang") == "en"
    assert page.text_content('[data-i18n="alarms"]') == "Alarms"


def test_a_failing_tile_says_why_from_the_hub_status(web_env, new_page):
    page = new_page()
    open_wall(page, web_env.demo_url, f"?layout=1&sources={DEAD[0]}")
    tile = f'.tile[data-source-id="{DEAD[0]}"]'
    # nothing listens on the dead camera's port: the hub knows, and the tile says so
    wait_until(lambda: "无法连接视频源" in (page.text_content(f"{tile} .t-msg") or ""), 20,
               message="the reason on the tile")
    assert "refused" in page.get_attribute(tile, "data-reason").lower()
