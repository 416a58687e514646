"""The hub serves the web app (``mediaserver/api/webapp.py``): pages with a strict CSP and no
referrer, modules revalidated on every load, nothing fetched from outside the hub."""

from __future__ import annotations

import asyncio
import re

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from mediaserver.api.webapp import WEB_ROOT, WebApp

#: where the wall and review pages live; web/field/ belongs to the field page
OWN_FILES = [p for p in WEB_ROOT.rglob("*")
             if p.is_file() and "field" not in p.relative_to(WEB_ROOT).parts]


@pytest.fixture
async def client():
    app = web.Application()
    (await asyncio.to_thread(WebApp, auth_mode="none")).add_routes(app)
    async with TestClient(TestServer(app)) as c:
        yield c


@pytest.mark.parametrize("path", ["/", "/review"])
async def test_pages_are_served_with_a_strict_policy(client, path):
    resp = await client.get(path)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/html")
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert resp.headers["Referrer-Policy"] == "no-referrer"  # media URLs may carry ?token=
    assert resp.headers["Cache-Control"] == "no-cache"
    assert 'type="module"' in await resp.text()


async def test_modules_and_styles_are_served_and_revalidated(client):
    for path in ("/static/js/wall-main.js", "/static/js/review.js", "/static/app.css"):
        resp = await client.get(path)
        assert resp.status == 200, path
        assert resp.headers["Cache-Control"] == "no-cache"
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    resp = await client.get("/static/js/wall-main.js")
    assert "javascript" in resp.headers["Content-Type"]
    assert (await client.get("/static/../mediaserver/hub/app.py")).status == 404
    # /field sends phones to the field page's directory (its relative URLs resolve there)
    resp = await client.get("/field?token=abc", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/field/?token=abc"
    info = await (await client.get("/api/v1/info")).json()
    assert info["auth_mode"] == "none" and info["version"]


def test_every_module_import_resolves_and_nothing_comes_from_outside():
    imports = re.compile(r"""(?:import|from)\s*(?:[\w{},*\s]+from\s*)?["'](\.{1,2}/[^"']+)["']""")
    for path in OWN_FILES:
        text = path.read_text(encoding="utf-8")
        # offline: no CDN, no web fonts, no runtime downloads
        assert not re.search(r"""(?:src|href|url\(|import\s*\(?|from)\s*=?\s*["']?(?:https?:)?//""",
                             text), f"{path} loads something from outside the hub"
        if path.suffix == ".js":
            for target in imports.findall(text):
                assert (path.parent / target).resolve().is_file(), f"{path}: {target} missing"
    pages = [p for p in OWN_FILES if p.suffix == ".html"]
    for page in pages:
        for ref in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.read_text()):
            assert (WEB_ROOT / ref.lstrip("/")).is_file(), f"{page.name}: {ref} missing"
