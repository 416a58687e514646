"""Analytics as the composition root builds it: alert store, analytics service, alerts API.

One object with one ``start()`` and one ``aclose()`` (analytics is the last shutdown step)::

    self.analytics = HubAnalytics(s.analytics, data_dir=s.data_dir, redis=client,
                                  prefix=s.redis.prefix, registry=self.registry,
                                  manager=self.manager, access=self.access,
                                  redis_url=s.redis.url or self.redis.url, node=self.node_id)
    await self.analytics.start()
    self._on_close("analytics", self.analytics.aclose)
    ...
    self.analytics.add_routes(app)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web

from analytics.alerts.api import AlertsApi
from mediaserver.config.analytics import AnalyticsConfig
from mediaserver.config.sources import SourceConfig

from .alerts.store import AlertStore
from .service import AnalyticsService


class HubAnalytics:
    def __init__(self, config: AnalyticsConfig, *, data_dir: Path, redis: Any, prefix: str,
                 registry: Any, manager: Any, access: Any, redis_url: str | None = None,
                 node: str = "node") -> None:
        data_dir = Path(data_dir)
        self.store = AlertStore(redis, prefix, outbox=data_dir / config.outbox)
        self.service = AnalyticsService(config, data_dir=data_dir, manager=manager,
                                        registry=registry, store=self.store,
                                        redis_url=redis_url, prefix=prefix, node=node)
        self.api = AlertsApi(self.store, access, self._raise, data_dir=data_dir)

    async def _raise(self, source: SourceConfig, kind: str, confidence: float, message: str,
                     location: dict[str, float] | None) -> dict[str, Any]:
        return await self.service.raise_alert(source, kind, confidence, message, location)

    async def start(self) -> None:
        await self.store.start()
        try:
            await self.service.start()
        except BaseException:
            await self.aclose()
            raise

    def add_routes(self, app: web.Application) -> None:
        self.api.add_routes(app)

    async def source_changed(self, kind: str, source_id: str) -> None:
        await self.service.source_changed(kind, source_id)

    async def aclose(self) -> None:
        try:
            await self.service.aclose()
        finally:
            await self.store.aclose()
