"""WHIP, transcoding WHEP and the location API around a whole hub (``make_hub``).

Uses the hub's own endpoints when the composition root wires them (``hub.whip_publish``,
``hub.transcoders``); otherwise (or when a test adds routes or an audio relay) mounts them next
to the hub on a second port, built from the hub's real stream manager, registry, status board,
access control and Redis.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from mediaserver.api.location import LocationApi
from mediaserver.config.transcode import TranscodeConfig
from mediaserver.core.push import PushPublishers
from mediaserver.hub.app import Hub
from mediaserver.transcode.manager import Transcoders
from signalling.opus_relay import AudioRelay
from signalling.whep import WhepEndpoint
from signalling.whip import WhipEndpoint
from tests.e2e.conftest import hub_settings


@dataclass
class FieldHub:
    hub: Hub
    base: str
    transcoders: Transcoders
    whip: WhipEndpoint
    _closers: list[Any]

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            await closer()


async def start_field_hub(hub: Hub, transcode: TranscodeConfig | None = None, *,
                          host: str = "127.0.0.1",
                          extra_routes: Any = None,
                          audio: AudioRelay | None = None) -> FieldHub:
    wired = getattr(hub, "whip_publish", None)
    if wired is not None and extra_routes is None and audio is None:
        return FieldHub(hub, f"http://{host}:{hub.http_port}", hub.transcoders, wired, [])
    config = transcode or TranscodeConfig(close_after=1.0)
    transcoders = Transcoders(hub.manager, config)
    pushers = getattr(hub, "push", None)  # the hub's own publisher lifecycle when it has one
    closers: list[Any] = []
    if pushers is None:
        pushers = PushPublishers(hub.manager, hub.status, hub.registry, grace_period=1.0,
                                 silence_timeout=5.0)
        await pushers.start()
        closers.append(pushers.aclose)
    whep = WhepEndpoint(hub.manager, hub.access.check_source, hub.settings.webrtc,
                        ready_timeout=8.0, transcoders=transcoders, audio=audio)
    whip = WhipEndpoint(pushers, hub.access.source_for, hub.settings.webrtc,
                        pli_interval=1.0, media_timeout=5.0, audio=audio)
    app = web.Application(middlewares=[hub.access.error_middleware()])
    whep.add_routes(app)
    whip.add_routes(app)
    LocationApi(hub.registry, hub.access, hub.redis.client,
                prefix=hub.settings.redis.prefix).add_routes(app)
    if extra_routes is not None:
        extra_routes(app)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    return FieldHub(hub, f"http://{host}:{port}", transcoders, whip,
                    [*closers, runner.cleanup, transcoders.aclose, whep.aclose, whip.aclose])


@contextlib.asynccontextmanager
async def running_field_hub(data_dir: Path, audio: AudioRelay | None = None,
                            **overrides: object) -> AsyncIterator[FieldHub]:
    """A whole hub (``hub_settings`` overrides) with the field endpoints; stopped on exit."""
    hub = Hub(hub_settings(data_dir, **overrides))
    await hub.start()
    try:
        field = await start_field_hub(hub, audio=audio)
        try:
            yield field
        finally:
            await field.aclose()
    finally:
        await hub.aclose()
