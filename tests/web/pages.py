"""Page helpers of the browser tests: what the wall's videos and tree items show."""

from __future__ import annotations

import time

from tests.web.conftest import wait_until

VIDEOS_JS = """() => Object.fromEntries([...document.querySelectorAll('video[data-source-id]')]
  .map((v, i) => [i, {id: v.dataset.sourceId, width: v.videoWidth,
                      frames: v.getVideoPlaybackQuality().totalVideoFrames,
                      first: v.dataset.firstFrameMs ? +v.dataset.firstFrameMs : null}]))"""
DOT_COLOUR_JS = """id => { const row = document.querySelector(`.row.item[data-source-id="${id}"]`);
  return row ? getComputedStyle(row.querySelector('.dot')).backgroundColor : null; }"""
BLUE, GREY, RED = "rgb(47, 129, 247)", "rgb(110, 118, 129)", "rgb(248, 81, 73)"


def open_wall(page, url: str, query: str = "") -> None:
    page.goto(f"{url}/{query}")
    page.wait_for_selector("body[data-ready='1']")


def videos(page) -> dict:
    return page.evaluate(VIDEOS_JS)


def dot(page, source_id: str) -> str | None:
    return page.evaluate(DOT_COLOUR_JS, source_id)


def playing(page, count: int, seconds: float = 2.0, only: set[str] | None = None) -> dict:
    """The wall's videos (those of the ``only`` sources) once ``count`` of them decode frames,
    checked again ``seconds`` later: decoded frames must increase on every one."""
    def current() -> dict:
        return {k: v for k, v in videos(page).items() if only is None or v["id"] in only}

    wait_until(lambda: sum(1 for v in current().values() if v["width"] > 0
                           and v["frames"] > 0) >= count, 30, message=f"{count} videos playing")
    before = current()
    time.sleep(seconds)
    after = current()
    stuck = [v["id"] for k, v in after.items() if v["frames"] <= before[k]["frames"]]
    assert not stuck, f"no new frames on {stuck}"
    return after
