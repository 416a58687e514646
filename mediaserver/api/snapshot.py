"""``GET /api/v1/sources/{id}/snapshot.jpg``: the latest keyframe, decoded on demand."""

from __future__ import annotations

import logging

from aiohttp import web

from mediaserver.errors import NoKeyframeError, SnapshotError

from ..core.manager import StreamManager
from ..transcode.keyframe import snapshot_jpeg

logger = logging.getLogger(__name__)


class SnapshotApi:
    def __init__(self, manager: StreamManager, access, *, ready_timeout: float = 10.0) -> None:
        self._manager = manager
        self._access = access
        self._ready_timeout = ready_timeout

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/api/v1/sources/{source_id}/snapshot.jpg", self.get)

    async def get(self, request: web.Request) -> web.Response:
        source_id = request.match_info["source_id"]
        await self._access.check_source(request, source_id, "view")
        try:
            width = int(request.query.get("width", "0")) or None
        except ValueError:
            raise web.HTTPBadRequest(text="width must be an integer") from None
        if width is not None and not 16 <= width <= 7680:
            raise web.HTTPBadRequest(text="width must be between 16 and 7680")
        stream = self._manager.stream(source_id)
        keyframe = stream.latest_keyframe() if stream else None
        if keyframe is None:
            # start the source on demand just long enough to get one keyframe
            sub = await self._manager.subscribe(source_id, "snapshot")
            try:
                if not await self._manager.wait_ready(source_id, self._ready_timeout):
                    raise web.HTTPGatewayTimeout(text="source did not deliver a picture in time")
                stream = self._manager.stream(source_id)
                keyframe = stream.latest_keyframe() if stream else None
            finally:
                self._manager.unsubscribe(sub)
        if keyframe is None or stream is None or stream.track is None:
            raise web.HTTPServiceUnavailable(text="no picture yet")
        try:
            jpeg = await snapshot_jpeg(keyframe, track=stream.track, max_width=width)
        except NoKeyframeError:
            raise web.HTTPServiceUnavailable(text="no picture yet") from None
        except SnapshotError as exc:
            logger.warning("[%s] snapshot failed: %s", source_id, exc)
            raise web.HTTPBadGateway(text="the source's picture could not be decoded") from None
        return web.Response(body=jpeg, content_type="image/jpeg",
                            headers={"Cache-Control": "no-store"})
