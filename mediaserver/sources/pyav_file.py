"""Local video files as sources: read once with PyAV, replay forever in real time.

:func:`read_access_units` demuxes a file's first H.264/H.265 track (no decoding).
:class:`LoopingFilePublisher` replays it as a live camera: paced by dts against the event loop
clock, timestamps increasing across loops. Hundreds of publishers of the same file share one
decoded copy through a :class:`ClipCache`.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import av

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..core.stream import Stream
from ..errors import SourceNotAllowed, UnsupportedMedia, UpstreamError
from .pyav_bitstream import PacketConverter, map_av_error

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
#: A publisher more than this late re-anchors its clock instead of bursting to catch up.
MAX_LATE = 1.0


def _open_video(path: str) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    try:
        container = av.open(path, metadata_errors="replace")
    except (av.FFmpegError, OSError) as exc:
        raise map_av_error(exc, path, opening=True) from exc
    videos = list(container.streams.video)
    if not videos:
        container.close()
        raise UnsupportedMedia(f"{path}: no video track")
    return container, videos[0]


def read_access_units(path: str | os.PathLike[str], *,
                      max_bytes: int = DEFAULT_MAX_BYTES) -> tuple[VideoTrack, list[AccessUnit]]:
    """Demux the first video track of a file into access units (blocking; run in a thread).

    Access units start at the first keyframe, pts are 90 kHz starting at 0, keyframes carry
    their parameter sets. Raises :class:`UnsupportedMedia` when the file has no H.264/H.265
    video track and :class:`UpstreamError` when it cannot be read or exceeds ``max_bytes``.
    """
    path = os.fspath(path)
    try:
        size = os.stat(path).st_size
    except OSError as exc:
        raise UpstreamError(f"{path}: cannot read file ({exc.strerror})") from exc
    if size > max_bytes:
        raise UpstreamError(f"{path}: file of {size} bytes exceeds the {max_bytes} byte limit")
    container, video = _open_video(path)
    with container:
        converter = PacketConverter(video, path)
        aus: list[AccessUnit] = []
        total = 0
        try:
            for packet in container.demux(video):
                if packet.size == 0:
                    continue
                au = converter.convert(packet)
                if au is None or (not aus and not au.keyframe):
                    continue
                total += au.size
                if total > max_bytes:
                    raise UpstreamError(f"{path}: video exceeds the {max_bytes} byte limit")
                aus.append(au)
        except av.FFmpegError as exc:
            raise map_av_error(exc, path, opening=False) from exc
    if not aus:
        raise UnsupportedMedia(f"{path}: no decodable keyframe in the video track")
    first = min(au.pts for au in aus)
    for au in aus:
        au.pts -= first
        au.dts -= first
    return converter.track(), aus


@dataclass(frozen=True, slots=True)
class Clip:
    """A file's access units as templates (never published directly: pts get offset)."""

    track: VideoTrack
    aus: tuple[AccessUnit, ...]
    #: pts distance between two loops: the clip's span plus one frame
    period: int
    size: int


def load_clip(path: str | os.PathLike[str], *, max_bytes: int = DEFAULT_MAX_BYTES) -> Clip:
    track, aus = read_access_units(path, max_bytes=max_bytes)
    ticks = round(VIDEO_CLOCK_RATE / track.fps) if track.fps else 3600
    period = max(au.pts for au in aus) + ticks
    return Clip(track, tuple(aus), period, sum(au.size for au in aus))


class ClipCache:
    """Bounded LRU of loaded clips keyed by (real path, mtime, size); thread- and loop-safe.

    Concurrent requests for one file share a single read; a failed read is not cached.
    """

    def __init__(self, max_entries: int = 32, max_bytes: int = 512 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._entries: collections.OrderedDict[tuple[str, int, int],
                                               concurrent.futures.Future[Clip]] = \
            collections.OrderedDict()
        self.loads = 0

    async def get(self, path: str | os.PathLike[str]) -> Clip:
        key = await asyncio.to_thread(self._key, os.fspath(path))
        with self._lock:
            future = self._entries.get(key)
            owner = future is None
            if future is None:
                future = concurrent.futures.Future()
                self._entries[key] = future
                self.loads += 1
            else:
                self._entries.move_to_end(key)
        if owner:
            threading.Thread(target=self._load, args=(key, future), daemon=True,
                             name=f"clip-load-{Path(key[0]).name}").start()
        # shield: a cancelled waiter must not cancel the shared read
        return await asyncio.shield(asyncio.wrap_future(future))

    @staticmethod
    def _key(path: str) -> tuple[str, int, int]:
        try:
            real = os.path.realpath(path)
            st = os.stat(real)
        except OSError as exc:
            raise UpstreamError(f"{path}: cannot read file ({exc.strerror})") from exc
        return real, st.st_mtime_ns, st.st_size

    def _load(self, key: tuple[str, int, int], future: concurrent.futures.Future[Clip]) -> None:
        try:
            clip = load_clip(key[0])
        except BaseException as exc:  # noqa: BLE001 - handed to every waiter
            with self._lock:
                self._entries.pop(key, None)
            future.set_exception(exc)
            return
        future.set_result(clip)
        with self._lock:
            self._evict()

    def _evict(self) -> None:
        """Drop least recently used clips over the budget (always keeps one)."""
        while len(self._entries) > 1:
            done = [(k, f) for k, f in self._entries.items() if f.done() and not f.exception()]
            total = sum(f.result().size for _, f in done)
            if len(done) <= 1 or (len(self._entries) <= self.max_entries
                                  and total <= self.max_bytes):
                return
            del self._entries[done[0][0]]


class LoopingFilePublisher:
    """Replays a local H.264/H.265 file forever as a live source (the ``Publisher`` protocol).

    ``realtime=False`` publishes as fast as the loop allows (benchmarks). ``cache`` shares
    loaded files between publishers; without one each publisher reads the file itself.
    """

    def __init__(self, path: str | os.PathLike[str], *, realtime: bool = True,
                 cache: ClipCache | None = None) -> None:
        self.path = os.fspath(path)
        self.realtime = realtime
        self.cache = cache
        self.loops = 0
        self.late_resyncs = 0

    @classmethod
    def from_url(cls, url: str, *, root: str | os.PathLike[str] | None = None,
                 realtime: bool = True, cache: ClipCache | None = None) -> LoopingFilePublisher:
        """Build from ``file:///abs/path.mp4`` (percent-decoded). Relative paths, remote hosts
        and NUL bytes are refused; with ``root``, the real path must lie under it."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "file":
            raise SourceNotAllowed(f"not a file:// URL: {parts.scheme or '(no scheme)'}")
        if parts.netloc not in ("", "localhost"):
            raise SourceNotAllowed("file:// URLs must be absolute (file:///path) and local")
        path = unquote(parts.path)
        if not path.startswith("/") or "\x00" in path:
            raise SourceNotAllowed("file:// URLs must name an absolute path")
        if root is not None:
            real = os.path.realpath(path)
            base = os.path.realpath(root)
            if os.path.commonpath([real, base]) != base:
                raise SourceNotAllowed(f"{path} lies outside the allowed directory")
        return cls(path, realtime=realtime, cache=cache)

    async def _clip(self) -> Clip:
        if self.cache is not None:
            return await self.cache.get(self.path)
        return await asyncio.to_thread(load_clip, self.path)

    async def run(self, stream: Stream) -> None:
        clip = await self._clip()
        loop = asyncio.get_running_loop()
        stream.begin_session()
        stream.set_track(clip.track)
        logger.info("[%s] looping %s (%d frames, %.1f s)", stream.id, self.path, len(clip.aus),
                    clip.period / VIDEO_CLOCK_RATE)
        start = loop.time()
        offset = 0
        while True:
            for template in clip.aus:
                dts = template.dts + offset  # paced in decode order
                if self.realtime:
                    delay = start + dts / VIDEO_CLOCK_RATE - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    elif delay < -MAX_LATE:
                        start -= delay  # re-anchor: this access unit is due now, no burst
                        self.late_resyncs += 1
                        logger.debug("[%s] %.1f s late, clock re-anchored", stream.id, -delay)
                else:
                    await asyncio.sleep(0)
                stream.publish(AccessUnit(template.nalus, template.pts + offset,
                                          template.keyframe, template.codec, dts))
            offset += clip.period
            self.loops += 1
