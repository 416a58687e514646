"""One shared transcoder: a Publisher of the derived stream ``{source_id}~{profile}``.

``run`` subscribes to the source's Stream, hands each access unit to its own codec thread
(a one-worker executor: decode, scale, encode) and publishes the H.264 output. While the thread
is busy the subscriber's bounded queue absorbs the input; when it overflows it drops to the next
keyframe (counted in ``dropped``), so a slow transcoder never slows the camera.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from mediaserver.config.transcode import TranscodeProfile
from mediaserver.core.access_unit import VideoTrack
from mediaserver.core.stream import Stream
from mediaserver.core.subscriber import Subscriber
from mediaserver.errors import SubscriberClosed, UpstreamError

from .codec import CodecStats, TranscodePipeline

logger = logging.getLogger(__name__)

#: ``subscribe(source_id, name, maxsize)`` on the node's stream manager
Subscribe = Callable[[str, str, int], Awaitable[Subscriber]]


class Transcoder:
    """Feeds ``stream`` (the derived one) from the source ``source_id`` through ``profile``."""

    def __init__(self, source_id: str, profile_name: str, profile: TranscodeProfile, *,
                 subscribe: Subscribe, unsubscribe: Callable[[Subscriber], None],
                 queue: int = 30, threads: int = 1) -> None:
        self.source_id = source_id
        self.profile_name = profile_name
        self.profile = profile
        self._subscribe = subscribe
        self._unsubscribe = unsubscribe
        self._queue = queue
        self._threads = threads
        self.stats = CodecStats()
        self.started = time.monotonic()
        self.dropped = 0  # source access units lost because the codec thread fell behind
        self.source_codec: str | None = None

    @property
    def log_id(self) -> str:
        return f"{self.source_id}~{self.profile_name}"

    async def run(self, stream: Stream) -> None:
        sub = await self._subscribe(self.source_id, f"transcode:{self.profile_name}",
                                    self._queue)
        executor = ThreadPoolExecutor(max_workers=1,
                                      thread_name_prefix=f"transcode-{self.log_id}")
        loop = asyncio.get_running_loop()
        pipeline: TranscodePipeline | None = None
        began = False
        try:
            while True:
                try:
                    au = await sub.recv()
                except SubscriberClosed:
                    raise UpstreamError(f"source {self.source_id} closed") from None
                if pipeline is None or au.codec != pipeline.decoder.codec:
                    pipeline = TranscodePipeline(au.codec, self.profile, self.source_id,
                                                 threads=self._threads, stats=self.stats)
                    self.source_codec = au.codec
                    logger.info("[%s] transcoding %s → H.264", self.log_id, au.codec)
                outputs = await loop.run_in_executor(executor, pipeline.process, au)
                self.dropped = sub.dropped
                for out in outputs:
                    if not began:
                        if not out.keyframe:
                            continue
                        began = True
                        stream.begin_session()
                        enc = pipeline.encoder
                        stream.set_track(VideoTrack("h264", enc.width, enc.height,
                                                    self.profile.fps))
                        stream.keyframe_requests.set_requester(enc.request_keyframe)
                    stream.publish(out)
        finally:
            self._unsubscribe(sub)
            # the in-flight picture (if any) finishes on the thread; nothing waits for it
            executor.shutdown(wait=False, cancel_futures=True)

    def info(self) -> dict[str, object]:
        return {"source_id": self.source_id, "profile": self.profile_name,
                "source_codec": self.source_codec, "decoded": self.stats.decoded,
                "encoded": self.stats.encoded, "skipped": self.stats.skipped,
                "errors": self.stats.errors, "dropped": self.dropped,
                "cpu_seconds": round(self.stats.cpu_seconds, 3),
                "age": round(time.monotonic() - self.started, 1)}
