"""Child process of test_crash: a hub with analytics on a file source and a long post-roll,
so a clip is being written when the test SIGKILLs it. ``python crash_hub.py DATA CLIP MODELS``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from analytics.hub import HubAnalytics
from mediaserver.config.analytics import AnalyticsConfig
from mediaserver.hub.app import Hub
from tests.e2e.conftest import hub_settings


async def main(data_dir: str, clip: str, models: str) -> None:
    # the e2e settings: loopback, free ports for every listener
    settings = hub_settings(Path(data_dir),
                            sources=[{"id": "cam-k", "url": f"file://{clip}",
                                      "analytics": {"enabled": True, "interval": 0.3}}],
                            pull={"file_roots": [str(Path(clip).parent)]})
    hub = Hub(settings)
    await hub.start()
    analytics = HubAnalytics(
        AnalyticsConfig(enabled=True, models=models, interval=0.3, threads=1,
                        rules={"k": 2, "n": 2, "resolve_after": 1000},
                        evidence={"pre_roll": 1.0, "post_roll": 60.0, "fragment": 0.5}),
        data_dir=settings.data_dir, redis=hub.redis.client, prefix="fh:",
        registry=hub.registry, manager=hub.manager, access=hub.access)
    await analytics.start()
    print("READY", flush=True)
    await asyncio.sleep(3600)


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
