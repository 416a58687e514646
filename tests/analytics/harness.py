"""A whole hub (tests/e2e ``make_hub``) plus the analytics wiring the composition root adds,
its alerts API served on the hub's own access control."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from analytics.hub import HubAnalytics
from mediaserver.config.analytics import AnalyticsConfig


@dataclass
class AnalyticsHub:
    hub: Any
    analytics: HubAnalytics
    server: TestServer

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def aclose(self) -> None:
        await self.server.close()
        await self.analytics.aclose()


async def start_analytics(hub: Any, **config: Any) -> AnalyticsHub:
    s = hub.settings
    analytics = HubAnalytics(AnalyticsConfig(**config), data_dir=s.data_dir,
                             redis=hub.redis.client, prefix=s.redis.prefix,
                             registry=hub.registry, manager=hub.manager, access=hub.access,
                             redis_url=hub.redis.url, node=hub.node_id)
    await analytics.start()
    app = web.Application(middlewares=[hub.access.error_middleware()])
    analytics.add_routes(app)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return AnalyticsHub(hub, analytics, server)


def data_path(hub: Any, rel: str) -> Path:
    return Path(hub.settings.data_dir) / rel
