"""PyAV sources: any URL FFmpeg opens (HLS, HTTP MP4, RTMP, SRT, RTSP fallback) and local files.

:class:`PyAVPublisher` demuxes (never decodes) in a dedicated thread and hands access units to
the event loop with ``call_soon_threadsafe`` through a bounded hand-off: when the loop falls
behind, access units are dropped up to the next keyframe and counted. FFmpeg's own timeouts
(the open/read interrupt callback and the protocols' socket options) bound every blocking call,
so a cancelled publisher's thread ends promptly. FFmpeg's log is kept in a bounded buffer and
written (scrubbed) only when the source fails.

File sources replay a local file forever: see :mod:`.pyav_file`, re-exported here.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
import time
from urllib.parse import urlsplit

import av
import av.logging

from ..core.access_unit import VIDEO_CLOCK_RATE, AccessUnit, VideoTrack
from ..core.stream import Stream
from ..errors import UnsupportedMedia, UpstreamError
from ..redact import redact_url
from .pyav_bitstream import LogBuffer, PacketConverter, map_av_error
from .pyav_file import MAX_LATE, ClipCache, LoopingFilePublisher, load_clip, read_access_units

__all__ = ["ClipCache", "LoopingFilePublisher", "PyAVPublisher", "load_clip",
           "read_access_units"]

logger = logging.getLogger(__name__)

#: When pacing finite media, a pts jump forward of more than this is a discontinuity (the
#: clock is re-anchored), not a reason to sleep; being MAX_LATE behind re-anchors too.
MAX_WAIT = 5.0


class PyAVPublisher:
    """Pulls one URL with PyAV/FFmpeg (the ``Publisher`` protocol).

    ``realtime``: pace by pts (like ``ffmpeg -re``); ``None`` paces finite media (a file or
    VOD with a known duration) and leaves live sources to their own clock. ``stop_grace``
    bounds how long a cancelled run waits for its thread before leaving it to end on its
    own FFmpeg timeout.
    """

    def __init__(self, url: str, *, transport: str = "tcp", connect_timeout: float = 10.0,
                 read_timeout: float = 10.0, realtime: bool | None = None,
                 handoff_size: int = 64, log_lines: int = 100, stop_grace: float = 2.0) -> None:
        self.url = url
        self.transport = transport
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.realtime = realtime
        self.handoff_size = handoff_size
        self.log_lines = log_lines
        self.stop_grace = stop_grace
        #: counters of the last run: access units dropped at the hand-off, malformed packets
        self.dropped = 0
        self.malformed = 0

    @classmethod
    def from_url(cls, url: str, *, transport: str = "tcp", connect_timeout: float = 10.0,
                 read_timeout: float = 10.0) -> PyAVPublisher:
        """Same shape as the RTSP publisher's constructor, for the publisher factory."""
        return cls(url, transport=transport, connect_timeout=connect_timeout,
                   read_timeout=read_timeout)

    def options(self) -> dict[str, str]:
        """FFmpeg protocol options: transport and socket timeouts (microseconds)."""
        scheme = urlsplit(self.url).scheme.lower()
        micros = str(int(self.read_timeout * 1_000_000))
        if scheme in ("rtsp", "rtsps"):
            return {"rtsp_transport": self.transport, "timeout": micros}
        if len(scheme) > 1:  # a network protocol (not a plain or Windows drive path)
            return {"rw_timeout": micros}
        return {}

    async def run(self, stream: Stream) -> None:
        session = _DemuxSession(self, stream, asyncio.get_running_loop())
        thread = threading.Thread(target=session.thread_main, daemon=True,
                                  name=f"pyav-{stream.id}")
        thread.start()
        try:
            await session.ended
        finally:
            session.stop.set()
            if not session.finished.done():
                await asyncio.wait([session.finished], timeout=self.stop_grace)
            if not session.finished.done():
                logger.warning("[%s] demux thread still blocked in FFmpeg; it ends on its "
                               "own timeout", stream.id)
            elif thread.is_alive():  # it has handed over its end and is returning
                await asyncio.to_thread(thread.join, self.stop_grace)
            self.dropped = session.dropped
            self.malformed = session.malformed


class _DemuxSession:
    """One run of a :class:`PyAVPublisher`: the demux thread and its hand-off to the loop."""

    def __init__(self, publisher: PyAVPublisher, stream: Stream,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.p = publisher
        self.stream = stream
        self.label = stream.id
        self.loop = loop
        self.stop = threading.Event()
        self.ended: asyncio.Future[None] = loop.create_future()
        self.finished: asyncio.Future[None] = loop.create_future()
        self.log = LogBuffer(publisher.log_lines)
        self._lock = threading.Lock()
        self._queue: collections.deque[AccessUnit | VideoTrack] = collections.deque()
        self._need_keyframe = False
        self._started = False
        self.dropped = 0
        self.malformed = 0

    # -- demux thread ---------------------------------------------------------------------

    def thread_main(self) -> None:
        error: BaseException | None = None
        try:
            with av.logging.Capture(local=True) as captured:
                try:
                    self._demux(captured)
                finally:
                    self.log.extend(captured)
        except BaseException as exc:  # noqa: BLE001 - handed to the loop, raised by run()
            error = exc
        try:
            self.loop.call_soon_threadsafe(self._on_end, error)
        except RuntimeError:
            pass  # the loop is closed: nobody is waiting any more

    def _open(self) -> av.container.InputContainer:
        try:
            return av.open(self.p.url, options=self.p.options(), metadata_errors="replace",
                           timeout=(self.p.connect_timeout, self.p.read_timeout))
        except (av.FFmpegError, OSError) as exc:
            raise map_av_error(exc, self.p.url, opening=True) from exc

    def _demux(self, captured: list[tuple[int, str, str]]) -> None:
        url = redact_url(self.p.url)
        logger.debug("[%s] opening %s", self.label, url)
        with self._open() as container:
            videos = list(container.streams.video)
            if not videos:
                raise UnsupportedMedia(f"{url}: no video track")
            converter = PacketConverter(videos[0], url)
            pace = self.p.realtime
            if pace is None:
                pace = bool(container.duration and container.duration > 0)
            anchor: float | None = None
            try:
                for packet in container.demux(videos[0]):
                    if self.stop.is_set():
                        return
                    if len(captured) > 20:
                        self.log.extend(captured)
                    if packet.size == 0:
                        continue
                    au = converter.convert(packet)
                    self.malformed = converter.malformed
                    if au is None:
                        continue
                    if converter.track_changed:
                        self._post(converter.track())
                    if pace:
                        anchor = self._pace(anchor, au.dts)
                        if self.stop.is_set():
                            return
                    self._post(au)
            except av.FFmpegError as exc:
                raise map_av_error(exc, self.p.url, opening=False) from exc
        raise UpstreamError(f"{url}: end of stream")

    def _pace(self, anchor: float | None, dts: int) -> float:
        """Sleep (interruptibly) until ``dts`` is due; return the possibly re-anchored clock."""
        now = time.monotonic()
        due = dts / VIDEO_CLOCK_RATE
        if anchor is None:
            return now - due
        delay = anchor + due - now
        if delay > MAX_WAIT or delay < -MAX_LATE:
            return now - due
        if delay > 0:
            self.stop.wait(delay)
        return anchor

    def _post(self, item: AccessUnit | VideoTrack) -> None:
        """Hand one item to the loop; drop access units (to the next keyframe) when it lags."""
        with self._lock:
            if isinstance(item, AccessUnit):
                if self._need_keyframe and not item.keyframe:
                    self.dropped += 1
                    return
                if len(self._queue) >= self.p.handoff_size:
                    self.dropped += 1
                    self._need_keyframe = True
                    return
                self._need_keyframe = False
            wake = not self._queue
            self._queue.append(item)
        if wake:
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:
                self.stop.set()

    # -- event loop -----------------------------------------------------------------------

    def _drain(self) -> None:
        with self._lock:
            items = list(self._queue)
            self._queue.clear()
        if self.ended.done():
            return
        for item in items:
            if isinstance(item, VideoTrack):
                if not self._started:
                    self._started = True
                    self.stream.begin_session()
                    logger.info("[%s] streaming %s", self.label, redact_url(self.p.url))
                self.stream.set_track(item)
            else:
                self.stream.publish(item)

    def _on_end(self, error: BaseException | None) -> None:
        self._drain()
        self.finished.set_result(None)
        if self.ended.done():
            return
        if error is None:  # stopped on request
            self.ended.set_result(None)
            return
        if self.dropped:
            logger.info("[%s] %d access units dropped at the hand-off", self.label, self.dropped)
        if not self.stop.is_set():
            self.log.dump(self.label)
        self.ended.set_exception(error)
