"""``fusionhub demo``: a hub with an embedded Redis-compatible server, no access control, and
16 simulated cameras (the load tests' camera farm) in a few organisation groups, plus one
camera looping a real fire (CC BY 4.0 frames) with analytics on, so the wall shows a fire
alert with its snapshot and clip within a minute while the simulated cameras stay quiet."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from ..config import SourceConfig, load_settings
from ..shipped import shipped_path

logger = logging.getLogger(__name__)

#: (id, display name, group, file): a fire scene from the detection set's CC BY 4.0 frames,
#: played as a looped clip (attribution: models/demo/ATTRIBUTION.md).
FIRE_CAMERA = ("demo-fire-1", "演示 火情", "city/demo", shipped_path("models/demo/fire-demo.mp4"))


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
    watched = {"enabled": True}  # analytics on every demo camera: only the fire one alarms
    sources = [SourceConfig(id=c[0], name=c[1], group=c[2], kind="camera",
                            url=f"rtsp://127.0.0.1:{farm.port}/{c[0]}", analytics=watched)
               for c in cams]
    fire_id, fire_name, fire_group, fire_clip = FIRE_CAMERA
    sources.append(SourceConfig(id=fire_id, name=fire_name, group=fire_group, kind="file",
                                url=f"file://{fire_clip}", analytics=watched))
    overrides: dict[str, object] = {
        "analytics": {**base.analytics.model_dump(), "enabled": True},
        "auth": {"mode": "none"},
        "sources": sources,
        # the fire clip ships with the package: file:// may read it beside the media folder
        "pull": {**base.pull.model_dump(), "file_roots": [
            *(base.pull.file_roots or (base.data_dir / "media",)), fire_clip.parent]},
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
