"""Recordings REST API: recorded ranges, playback by time and export.

Routes (JSON errors as in :mod:`mediaserver.api.util`; a source outside the token's groups
answers 404 exactly like live viewing)::

    GET /api/v1/sources/{id}/recordings   view  ?from&to (default: the last 24 h) → ranges, gaps
    GET /api/v1/sources/{id}/playback     view  ?from[&to] → fragmented MP4, streamed as it is
                                                remuxed; starts at the keyframe at or before
                                                ``from``, gaps skipped; X-Playback-Start
    GET /api/v1/sources/{id}/export       view  ?from&to → one MP4 file (moov first), trimmed
                                                to keyframes, source and range in its metadata
    GET /api/v1/sources/{id}/playback.m3u8  view  ?from[&to] → HLS VOD playlist (fMP4 segment
                                                files by byte range, wall-clock dates)
    GET /api/v1/sources/{id}/segments/{day}/{name}  view  one segment file (Range requests)
    GET /api/v1/recordings/status         view  node recording state, disk, counters

Times are Unix seconds or ISO 8601 (``2026-12-04T16:55:00Z``). Browsers' ``<video>`` passes
the token as ``?token=``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import datetime as dt
import logging
import math
import secrets
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import av
from aiohttp import web

from ..record.hls import media_playlist, playlist_entries
from ..record.index import ranges_and_gaps
from ..record.layout import Segment, is_day, parse_closed
from ..record.remux import RemuxError, export_metadata, iso, remux, start_keyframe
from ..record.service import RecordingService
from .util import ApiError, api_handler

logger = logging.getLogger(__name__)

DEFAULT_WINDOW = 86_400.0
MAX_WINDOW = 31 * 86_400.0
DEFAULT_PLAYBACK = 3600.0
#: Chunks of the playback stream queued between the remux thread and the socket.
PIPE_CHUNKS = 16


def parse_time(raw: str | None, name: str) -> float | None:
    if raw in (None, ""):
        return None
    assert raw is not None
    if len(raw) > 40:
        raise ApiError(400, "bad_param", f"{name} is too long")
    try:
        value = float(raw)
    except ValueError:
        try:
            when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise ApiError(400, "bad_param", f"{name} must be Unix seconds or ISO 8601") \
                from None
        if when.tzinfo is None:
            raise ApiError(400, "bad_param", f"{name} needs a time zone (Z or ±hh:mm)") \
                from None
        value = when.timestamp()
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise ApiError(400, "bad_param", f"{name} is out of range")
    return value


class _Pipe:
    """A write-only file for PyAV: chunks go to an asyncio queue, blocking the thread while
    the queue is full (the socket sets the pace); raises once the viewer has gone."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[bytes | None],
                 stop: threading.Event) -> None:
        self._loop, self._queue, self._stop = loop, queue, stop
        self.bytes = 0

    def write(self, data: bytes) -> int:
        chunk = bytes(data)
        future = asyncio.run_coroutine_threadsafe(self._queue.put(chunk), self._loop)
        while True:
            if self._stop.is_set():
                future.cancel()
                raise BrokenPipeError("playback viewer went away")
            try:
                future.result(timeout=0.5)
                break
            except concurrent.futures.TimeoutError:
                continue
        self.bytes += len(chunk)
        return len(chunk)


class RecordingsApi:
    def __init__(self, service: RecordingService, access: Any, *, data_dir: Path) -> None:
        self._service = service
        self._access = access
        self._exports_dir = Path(data_dir) / "exports"
        config = service.config
        self._max_export = config.max_export
        self._exports = asyncio.Semaphore(config.exports)
        self._playbacks = asyncio.Semaphore(config.playbacks)

    def add_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v1/sources/{source_id}/recordings", self.ranges)
        r.add_get("/api/v1/sources/{source_id}/playback", self.playback)
        r.add_get("/api/v1/sources/{source_id}/export", self.export)
        r.add_get("/api/v1/sources/{source_id}/playback.m3u8", self.hls)
        r.add_get("/api/v1/sources/{source_id}/segments/{day}/{name}", self.segment)
        r.add_get("/api/v1/recordings/status", self.status)

    async def _source(self, request: web.Request) -> Any:
        _, source = await self._access.source_for(request, request.match_info["source_id"],
                                                  "view")
        return source

    @staticmethod
    def _window(request: web.Request, *, default: float, limit: float,
                need_both: bool = False) -> tuple[float, float]:
        q = request.rel_url.query
        t0, t1 = parse_time(q.get("from"), "from"), parse_time(q.get("to"), "to")
        if need_both and (t0 is None or t1 is None):
            raise ApiError(400, "bad_param", "from and to are required")
        if t0 is None and t1 is None:
            t1 = time.time()
        if t0 is None:
            assert t1 is not None
            t0 = t1 - default
        if t1 is None:
            t1 = t0 + default
        if t1 <= t0:
            raise ApiError(400, "bad_param", "to must be after from")
        if t1 - t0 > limit:
            raise ApiError(400, "bad_param", f"the range may span at most {limit:.0f} s")
        return t0, t1

    # -- handlers ---------------------------------------------------------------------------

    @api_handler
    async def ranges(self, request: web.Request) -> web.Response:
        source = await self._source(request)
        t0, t1 = self._window(request, default=DEFAULT_WINDOW, limit=MAX_WINDOW)
        segments = await self._service.segments(source.id, t0, t1)
        ranges, gaps = ranges_and_gaps(segments, t0, min(t1, max(t0, time.time())))
        return web.json_response({
            "source_id": source.id, "from": t0, "to": t1,
            "ranges": [r.as_dict() for r in ranges], "gaps": [g.as_dict() for g in gaps],
            "recorded": round(sum(r.end - r.start for r in ranges), 3),
            "segments": len(segments), **self._service.source_state(source.id)})

    async def _covering(self, source_id: str, t0: float, t1: float) -> list[Segment]:
        segments = await self._service.segments(source_id, t0, t1)
        if not segments:
            raise ApiError(404, "no_recording", "nothing recorded in this range")
        return segments

    @api_handler
    async def playback(self, request: web.Request) -> web.StreamResponse:
        source = await self._source(request)
        t0, t1 = self._window(request, default=DEFAULT_PLAYBACK, limit=self._max_export)
        if self._playbacks.locked():
            raise ApiError(429, "busy", "too many playbacks on this node", retry_after=5)
        async with self._playbacks:
            segments = await self._covering(source.id, t0, t1)
            first = next((s for s in sorted(segments, key=lambda s: s.start) if s.end > t0),
                         None)
            start = await asyncio.to_thread(_keyframe_wall, first, t0) if first else None
            if start is None:
                raise ApiError(404, "no_recording", "nothing recorded in this range")
            return await self._stream(request, source.id, segments, t0, t1, start)

    async def _stream(self, request: web.Request, source_id: str, segments: list[Segment],
                      t0: float, t1: float, start: float) -> web.StreamResponse:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=PIPE_CHUNKS)
        stop = threading.Event()
        pipe = _Pipe(loop, queue, stop)

        async def produce() -> None:
            try:
                await asyncio.to_thread(remux, segments, t0, t1, pipe, fragmented=True,
                                        stopped=stop.is_set)
            except (RemuxError, BrokenPipeError):
                pass
            except Exception:  # noqa: BLE001 - logged; the stream just ends early
                logger.exception("[%s] playback remux failed", source_id)
            finally:
                await queue.put(None)

        response = web.StreamResponse(headers={
            "Content-Type": "video/mp4", "Cache-Control": "no-store",
            "X-Playback-Start": f"{start:.3f}", "X-Playback-End": f"{t1:.3f}",
            "Access-Control-Expose-Headers": "X-Playback-Start, X-Playback-End"})
        producer = asyncio.create_task(produce(), name=f"playback:{source_id}")
        try:
            await response.prepare(request)
            while (chunk := await queue.get()) is not None:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionResetError:
            # a <video> drops its request whenever it seeks or its source changes
            logger.debug("[%s] playback viewer went away", source_id)
        finally:
            # the remux thread notices `stop` within half a second; keep its queue drained so
            # that neither it nor its final put can block
            stop.set()
            while not producer.done():
                while not queue.empty():
                    queue.get_nowait()
                await asyncio.wait([producer], timeout=0.1)
        return response

    @api_handler
    async def export(self, request: web.Request) -> web.StreamResponse:
        source = await self._source(request)
        t0, t1 = self._window(request, default=DEFAULT_PLAYBACK, limit=self._max_export,
                              need_both=True)
        if self._exports.locked():
            raise ApiError(429, "busy", "another export is running; retry later",
                           retry_after=10)
        async with self._exports:
            segments = await self._covering(source.id, t0, t1)
            await asyncio.to_thread(self._exports_dir.mkdir, parents=True, exist_ok=True)
            path = self._exports_dir / f".{source.id}.{secrets.token_hex(6)}.mp4"
            try:
                try:
                    result = await asyncio.to_thread(
                        remux, segments, t0, t1, path, fragmented=False,
                        metadata=export_metadata(source.id, source.name, t0, t1))
                except RemuxError:
                    raise ApiError(404, "no_recording", "nothing recorded in this range") \
                        from None
                name = f"{source.id}_{iso(t0)}_{iso(t1)}.mp4".replace(":", "")
                response = web.FileResponse(path, headers={
                    "Content-Type": "video/mp4", "Cache-Control": "no-store",
                    "Content-Disposition": f'attachment; filename="{name}"',
                    "X-Recording-Start": f"{result.start or t0:.3f}",
                    "X-Recording-End": f"{result.end or t1:.3f}"})
                await response.prepare(request)
                return response
            finally:
                await asyncio.to_thread(path.unlink, missing_ok=True)

    @api_handler
    async def hls(self, request: web.Request) -> web.Response:
        source = await self._source(request)
        t0, t1 = self._window(request, default=DEFAULT_PLAYBACK, limit=self._max_export)
        segments = await self._covering(source.id, t0, t1)
        token = request.rel_url.query.get("token")
        suffix = f"?{urlencode({'token': token})}" if token else ""

        def uri(seg: Segment) -> str:
            return f"segments/{seg.path.parent.name}/{seg.path.name}{suffix}"

        entries = await asyncio.to_thread(playlist_entries, segments, uri)
        if not entries:
            raise ApiError(404, "no_recording", "nothing recorded in this range yet")
        offset = max(0.0, t0 - entries[0].segment.start)
        return web.Response(text=media_playlist(entries, offset),
                            content_type="application/vnd.apple.mpegurl",
                            headers={"Cache-Control": "no-store"})

    @api_handler
    async def segment(self, request: web.Request) -> web.StreamResponse:
        source = await self._source(request)
        day, name = request.match_info["day"], request.match_info["name"]
        if not is_day(day) or parse_closed(day, name) is None:
            raise ApiError(404, "not_found", "no such segment")
        root = self._service.root.resolve()
        path = (root / source.id / day / name).resolve()
        if not path.is_relative_to(root) or not await asyncio.to_thread(path.is_file):
            raise ApiError(404, "not_found", "no such segment")
        # FileResponse answers Range requests (HLS byte ranges) with 206
        return web.FileResponse(path, headers={"Content-Type": "video/mp4",
                                               "Cache-Control": "private, max-age=86400"})

    @api_handler
    async def status(self, request: web.Request) -> web.Response:
        principal = await self._access.authenticate(request)
        self._access.require(principal, "view")
        return web.json_response(self._service.status())


def _keyframe_wall(segment: Segment, t0: float) -> float | None:
    """Wall time of the keyframe that playback from ``t0`` starts at (blocking)."""
    try:
        found = start_keyframe(segment, t0)
    except (OSError, av.FFmpegError):
        return None
    return found[1] if found is not None else None
