"""Serves the browser app from the shipped ``web/`` (no CDN, no runtime downloads, no build step).

``/`` is the video wall, ``/review`` the analysts' clip review, ``/admin`` the administrators'
page (sources, import, users, device tokens), ``/static/`` their ES modules
and styles; ``/field/`` the field page for phones and its files (``web/field/``; ``/field``
redirects there so its relative URLs resolve). Pages go out with a strict
Content-Security-Policy (everything from this origin, WebSocket and media included) and
``Referrer-Policy: no-referrer``, since media URLs may carry ``?token=``. Static files are
revalidated on every load (``no-cache``: ETag/Last-Modified), so an upgraded hub never runs a
stale mix of modules.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from ..shipped import shipped_path

WEB_ROOT = shipped_path("web")

#: page route -> file under the web root
PAGES = {"/": "index.html", "/review": "review.html", "/admin": "admin.html",
         "/field/": "field/index.html"}

PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "media-src 'self' blob:; connect-src 'self' ws: wss:; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'self'"),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


class WebApp:
    """The pages and static files. Construction looks at the web root on disk (blocking: build
    it before the loop runs or in a thread); :meth:`add_routes` only registers."""

    def __init__(self, *, auth_mode: str, root: Path = WEB_ROOT) -> None:
        self._root = root
        self._auth_mode = auth_mode
        # the web app's modules and styles (web/static/), the field page's (web/field/)
        self._static = [web.StaticResource(prefix, root / folder, follow_symlinks=False)
                        for prefix, folder in (("/static", "static"), ("/field", "field"))
                        if (root / folder).is_dir()]

    def add_routes(self, app: web.Application) -> None:
        for path, name in PAGES.items():
            app.router.add_get(path, self._page(name))
        app.router.add_get("/api/v1/info", self.info)
        app.router.add_get("/field", self._redirect_field)
        for resource in self._static:
            app.router.register_resource(resource)
        if self._static:
            app.on_response_prepare.append(_static_headers)

    def _page(self, name: str):
        async def handler(request: web.Request) -> web.StreamResponse:
            page = self._root / name
            if not await asyncio.to_thread(page.is_file):
                raise web.HTTPNotFound(text="web app not installed")
            return web.FileResponse(page, headers=PAGE_HEADERS)

        return handler

    async def _redirect_field(self, request: web.Request) -> web.StreamResponse:
        query = f"?{request.query_string}" if request.query_string else ""
        raise web.HTTPFound(f"/field/{query}")

    async def index(self, request: web.Request) -> web.StreamResponse:
        return await self._page(PAGES["/"])(request)

    async def info(self, request: web.Request) -> web.Response:
        from .. import __version__

        return web.json_response({"version": __version__, "auth_mode": self._auth_mode})


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith(("/static/", "/field/")) and \
            "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
