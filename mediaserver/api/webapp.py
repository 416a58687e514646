"""Serves the browser app from ``web/`` (no CDN, no runtime downloads)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

WEB_ROOT = Path(__file__).resolve().parents[2] / "web"


class WebApp:
    def __init__(self, *, auth_mode: str, root: Path = WEB_ROOT) -> None:
        self._root = root
        self._auth_mode = auth_mode

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.index)
        app.router.add_get("/api/v1/info", self.info)
        if (self._root / "static").is_dir():
            app.router.add_static("/static/", self._root / "static", follow_symlinks=False)

    async def index(self, request: web.Request) -> web.StreamResponse:
        index = self._root / "index.html"
        if not index.is_file():
            raise web.HTTPNotFound(text="web app not installed")
        return web.FileResponse(index, headers={"Cache-Control": "no-cache"})

    async def info(self, request: web.Request) -> web.Response:
        from .. import __version__

        return web.json_response({"version": __version__, "auth_mode": self._auth_mode})
