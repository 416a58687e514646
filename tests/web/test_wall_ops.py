"""Wall operations in headless Chromium against the demo hub: a group fills the free tiles
(what plays stays) or asks before replacing the wall, undo brings the wall back, a tour (轮巡)
cycles a group's sources through a tile, and a tile's snapshot downloads as an image."""

from __future__ import annotations

import pytest

from tests.web.conftest import CAMERAS, wait_until
from tests.web.pages import open_wall, playing

pytestmark = pytest.mark.timeout(120)

ASSIGNED_JS = "() => window.fusionhub.wall.wall"


def _group_button(page, group: str, button: str) -> None:
    row = f'.row.group[data-group="{group}"]'
    page.hover(row)
    page.click(f"{row} .{button}")


def test_group_fills_free_tiles_asks_before_replacing_and_undo_restores(web_env, new_page):
    page = new_page()
    first = CAMERAS[0][0]
    open_wall(page, web_env.demo_url, f"?layout=9&sources={first}")
    _group_button(page, "city/haidian", "gplay")  # 2 sources, 8 free tiles: no question
    wait_until(lambda: page.evaluate(ASSIGNED_JS)["sources"][:3] == [first, "cam003", "cam004"],
               5, message="the group in the free tiles")
    assert page.evaluate(ASSIGNED_JS)["layout"] == 9
    playing(page, 3)

    page.click('#layouts button[data-layout="4"]')
    answers: list[str] = []
    page.once("dialog", lambda d: (answers.append(d.message), d.dismiss()))
    _group_button(page, "city", "gplay")  # 6 sources, 1 free tile: asks; "no" keeps the wall
    wait_until(lambda: answers, 5, message="the question")
    assert "整组替换" in answers[0]
    assert page.evaluate(ASSIGNED_JS) == {"layout": 4, "sources": [first, "cam003", "cam004", ""]}
    page.once("dialog", lambda d: d.accept())
    _group_button(page, "city", "gplay")
    wait_until(lambda: page.evaluate(ASSIGNED_JS)["layout"] == 9, 5, message="replaced")
    page.click("#undo")
    assert page.evaluate(ASSIGNED_JS) == {"layout": 4, "sources": [first, "cam003", "cam004", ""]}
    page.click("#undo")  # and the layout change before it
    assert page.evaluate(ASSIGNED_JS)["layout"] == 9


def test_a_tour_cycles_three_sources_through_the_selected_tile(web_env, new_page):
    page = new_page()
    open_wall(page, web_env.demo_url, "?layout=1&sources=")
    _group_button(page, "city", "gtour")
    page.fill("#tour-form [name=interval]", "2")
    page.click('#tour-form button[value="start"]')
    seen: list[str] = []

    def cycled() -> bool:
        current = page.get_attribute(".tile[data-index='0']", "data-source-id")
        if current and (not seen or seen[-1] != current):
            seen.append(current)
        return len(set(seen)) >= 3
    wait_until(cycled, 20, interval=0.3, message="three sources toured")
    assert page.is_visible("#tour-status")
    page.click("#tour-status button")
    assert page.is_hidden("#tour-status")
    stopped = page.get_attribute(".tile[data-index='0']", "data-source-id")
    page.wait_for_timeout(2500)
    assert page.get_attribute(".tile[data-index='0']", "data-source-id") == stopped


def test_tile_snapshot_downloads_a_png(web_env, new_page):
    page = new_page()
    sid = CAMERAS[0][0]
    open_wall(page, web_env.demo_url, f"?layout=1&sources={sid}")
    playing(page, 1)
    page.hover(f'.tile[data-source-id="{sid}"]')
    with page.expect_download() as info:
        page.click(f'.tile[data-source-id="{sid}"] .t-snap')
    download = info.value
    assert download.suggested_filename.startswith(sid) and \
        download.suggested_filename.endswith(".png")
    data = open(download.path(), "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
