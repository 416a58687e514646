"""``fusionhub demo``: a hub with an embedded Redis-compatible server, no access control, and
16 simulated cameras (the load tests' camera farm) in a few organisation groups."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..config import SourceConfig, load_settings

logger = logging.getLogger(__name__)


async def start_demo(*, config: str | None = None, cameras: int = 16, camera_port: int = 8555,
                     http_port: int | None = None) -> Callable[[], Awaitable[None]]:
    """Start the camera farm and the hub; return the closer (hub first, then the farm)."""
    from loadtests.camfarm.cameras import demo_cameras
    from loadtests.camfarm.farm import CameraFarm, CameraSpec

    from .app import Hub

    base = await asyncio.to_thread(load_settings, config)  # reads the file
    cams = demo_cameras(cameras)
    farm = CameraFarm([CameraSpec(id=c[0], name=c[4], profile=c[3], group=c[2]) for c in cams],
                      host="127.0.0.1", port=camera_port, clip_dir=base.data_dir / "clips",
                      distinct=True)
    logger.info("preparing %d simulated cameras (clips are encoded once and cached)", len(cams))
    await farm.start()
    sources = [SourceConfig(id=c[0], name=c[1], group=c[2], kind="camera",
                            url=f"rtsp://127.0.0.1:{farm.port}/{c[0]}") for c in cams]
    overrides: dict[str, object] = {
        "auth": {"mode": "none"},
        "sources": sources,
        "probe": {**base.probe.model_dump(), "interval": 10.0},
        "http": {**base.http.model_dump(), "host": "127.0.0.1",
                 "port": http_port if http_port is not None else base.http.port},
    }
    settings = await asyncio.to_thread(load_settings, config, **overrides)
    hub = Hub(settings)
    try:
        await hub.start()
    except BaseException:
        await farm.aclose()
        raise
    logger.warning("DEMO MODE — no access control. Open http://127.0.0.1:%s/", hub.http_port)

    async def close() -> None:
        await hub.aclose()
        await farm.aclose()

    close.hub = hub  # type: ignore[attr-defined]  # for tests
    return close
