"""Names in any language on a whole hub: Chinese group paths in sources, tokens and the group
tree; a GBK CSV with Chinese headers previewed (dry run) then imported; the template; and
validation errors with a stable code."""

from __future__ import annotations

import aiohttp

from mediaserver.registry.import_text import template_csv

GBK_CSV = ("编号,名称,分组,地址\r\n"
           "cy-gate,朝阳区 东门,北京/朝阳区,rtsp://127.0.0.1:9/a\r\n"
           "hd-park,海淀 公园,北京/海淀区,rtsp://127.0.0.1:9/b\r\n"
           "坏编号,错误,北京/朝阳区,rtsp://127.0.0.1:9/c\r\n").encode("gbk")


async def test_gbk_import_with_chinese_headers_preview_then_apply(make_hub):
    hub = await make_hub()
    base = f"http://127.0.0.1:{hub.http_port}"
    admin = {"Authorization": f"Bearer {hub.access.issue('admin', ('*',), ttl=60)}"}
    scoped = {"Authorization": "Bearer " + hub.access.issue("viewer", ("北京/朝阳区",), ttl=60)}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/api/v1/sources/import?dry_run=1", data=GBK_CSV,
                             headers={**admin, "Content-Type": "text/csv"}) as resp:
            preview = await resp.json()
        assert resp.status == 200, preview
        assert preview["dry_run"] is True and preview["valid"] == 2
        assert [p["name"] for p in preview["preview"]] == ["朝阳区 东门", "海淀 公园"]
        assert [(e["row"], e["field"], e["code"]) for e in preview["errors"]] == \
            [(3, "id", "pattern")]
        async with http.get(f"{base}/api/v1/sources", headers=admin) as resp:
            assert (await resp.json())["total"] == 0  # the preview wrote nothing

        async with http.post(f"{base}/api/v1/sources/import", data=GBK_CSV,
                             headers={**admin, "Content-Type": "text/csv"}) as resp:
            result = await resp.json()
        assert result["imported"] == 2 and result["failed"] == 1
        async with http.get(f"{base}/api/v1/groups", headers=admin) as resp:
            groups = (await resp.json())["groups"]
        assert groups["北京"] == 2 and groups["北京/朝阳区"] == 1
        # a token scoped to a Chinese group sees just that group
        async with http.get(f"{base}/api/v1/sources", headers=scoped) as resp:
            assert [s["id"] for s in (await resp.json())["items"]] == ["cy-gate"]
        async with http.get(f"{base}/api/v1/sources?group=北京/海淀区", headers=admin) as resp:
            assert [s["name"] for s in (await resp.json())["items"]] == ["海淀 公园"]

        async with http.get(f"{base}/api/v1/sources/import/template.csv?lang=zh-CN",
                            headers=admin) as resp:
            assert resp.status == 200 and resp.content_type == "text/csv"
            assert await resp.read() == template_csv("zh-CN")
            assert "attachment" in resp.headers["Content-Disposition"]
        async with http.get(f"{base}/api/v1/sources/import/template.csv",
                            headers=scoped) as resp:
            assert resp.status == 403

        async with http.post(f"{base}/api/v1/sources", headers=admin,
                             json={"id": "x1", "group": "北京//朝阳区"}) as resp:
            error = (await resp.json())["error"]
        assert resp.status == 422
        assert (error["code"], error["field"], error["reason"]) == ("invalid", "group",
                                                                    "pattern")
