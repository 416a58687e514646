"""The demo's cameras: the camera farm owns their definitions, ``fusionhub demo`` and the wall
benchmark take them from here."""

from __future__ import annotations

#: (id, display name, group, profile, English caption burnt into the picture)
DEMO_CAMERAS: tuple[tuple[str, str, str, str, str], ...] = (
    ("cy-gate-1", "朝阳 东门", "city/chaoyang", "main720", "Chaoyang East Gate"),
    ("cy-plaza-2", "朝阳 广场", "city/chaoyang", "main720", "Chaoyang Plaza"),
    ("cy-station-3", "朝阳 消防站", "city/chaoyang", "main720", "Chaoyang Fire Station"),
    ("cy-tunnel-4", "朝阳 隧道", "city/chaoyang", "sub360", "Chaoyang Tunnel"),
    ("hd-campus-1", "海淀 校园", "city/haidian", "main720", "Haidian Campus"),
    ("hd-bridge-2", "海淀 立交桥", "city/haidian", "main720", "Haidian Bridge"),
    ("hd-park-3", "海淀 公园", "city/haidian", "main720", "Haidian Park"),
    ("hd-market-4", "海淀 市场", "city/haidian", "sub360", "Haidian Market"),
    ("rv-dam-1", "河道 大坝", "city/riverside", "main720", "River Dam"),
    ("rv-pier-2", "河道 码头", "city/riverside", "main720", "River Pier"),
    ("rv-levee-3", "河道 堤防", "city/riverside", "main720", "River Levee"),
    ("rv-pump-4", "河道 泵站", "city/riverside", "sub360", "River Pump Station"),
    ("hw-km12", "高速 12 公里", "city/highway", "main720", "Highway km 12"),
    ("hw-km27", "高速 27 公里", "city/highway", "main720", "Highway km 27"),
    ("hw-toll-3", "高速 收费站", "city/highway", "main720", "Highway Toll Gate"),
    ("hw-service-4", "高速 服务区", "city/highway", "sub360", "Highway Service Area"),
)


def demo_cameras(count: int) -> list[tuple[str, str, str, str, str]]:
    """The demo's cameras; past the 16 named ones, numbered extras in a spare group."""
    cams = list(DEMO_CAMERAS[:count])
    for i in range(len(cams), count):
        cams.append((f"extra-{i + 1}", f"备用 {i + 1}", "city/extra", "sub360",
                     f"Extra camera {i + 1}"))
    return cams
