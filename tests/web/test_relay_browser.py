"""Chromium decodes the fast relay's stream: the wall's video plays, and the hub's metrics say
the fast path (not aiortc's sender) sent it."""

from __future__ import annotations

import re

from tests.web.pages import open_wall, playing

METRICS_JS = "async () => (await fetch('/metrics')).text()"


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{name} (\S+)$", text, re.M)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def test_chromium_plays_the_fast_relay(web_env, new_page):
    page = new_page(1280, 720)
    open_wall(page, web_env.demo_url, "?layout=1&sources=cam004")
    result = playing(page, 1, seconds=2.0)
    assert [v["id"] for v in result.values()] == ["cam004"]
    text = page.evaluate(METRICS_JS)
    assert _metric(text, "fusionhub_relay_sessions_total") >= 1
    assert _metric(text, "fusionhub_relay_fallback_sessions_total") == 0
    assert _metric(text, "fusionhub_relay_packets_total") > 0
