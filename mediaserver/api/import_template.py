"""``GET /api/v1/sources/import/template.csv?lang=zh-CN|en`` (admin): the CSV template for bulk
imports, with headers in the asked language and two example rows (UTF-8 with a BOM, so Excel
opens Chinese text right)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..http.access import authorize
from ..http.errors import api_handler
from ..registry.import_text import template_csv


class ImportTemplateApi:
    def __init__(self, access: Any) -> None:
        self.access = access

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/sources/import/template.csv", self.template)

    @api_handler
    async def template(self, request: web.Request) -> web.Response:
        await authorize(self.access, request, "admin")
        lang = request.rel_url.query.get("lang", "en")
        name = "sources-template-zh.csv" if lang.lower().startswith("zh") else \
            "sources-template.csv"
        return web.Response(body=template_csv(lang), content_type="text/csv", charset="utf-8",
                            headers={"Content-Disposition": f'attachment; filename="{name}"'})
