"""The event-loop half of one source's recorder.

It subscribes through the StreamManager like any viewer, so a recorded source stays pulled
without viewers (and is re-subscribed when the stream is restarted), drains its bounded
subscriber queue in batches and hands each batch to its :class:`SegmentSink` in a worker
thread. Nothing blocking runs on the loop. ``aclose()`` closes the open segment cleanly.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from pathlib import Path

from ..config.recording import RecordingConfig
from ..core.audio import AudioFrame, AudioSubscriber, AudioSubscriberClosed
from ..core.manager import StreamManager
from ..core.stream import Stream
from ..core.subscriber import Subscriber, SubscriberClosed
from ..errors import SourceNotFound
from .segment import AudioFormat
from .sink import SegmentSink, SinkReport

logger = logging.getLogger(__name__)

#: Seconds between batches handed to the writer thread.
BATCH_INTERVAL = 0.5
#: Audio frames kept between batches (more are dropped, oldest first).
AUDIO_QUEUE = 512
RESUBSCRIBE_DELAY = 1.0

OnReport = Callable[[str, SinkReport], None]


class SourceRecorder:
    def __init__(self, source_id: str, manager: StreamManager, root: Path,
                 config: RecordingConfig, on_report: OnReport, *, on_alert: bool = False
                 ) -> None:
        self.source_id = source_id
        self.manager = manager
        self.config = config
        self.mode = "on-alert" if on_alert else "continuous"
        self.sink = SegmentSink(source_id, root / source_id, config, on_alert=on_alert)
        self._on_report = on_report
        self._audio: collections.deque[tuple[AudioFrame, float]] = \
            collections.deque(maxlen=AUDIO_QUEUE)
        self._task: asyncio.Task[None] | None = None
        self._audio_format: AudioFormat | None = None
        self._sub: Subscriber | None = None
        self._dropped = 0
        self.high_water = 0

    @property
    def dropped(self) -> int:
        """Access units lost because the writer fell behind (queue or memory bound)."""
        return self._dropped + (self._sub.dropped if self._sub is not None else 0)

    @property
    def recording(self) -> bool:
        return self.sink.recording

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"record:{self.source_id}")

    def trigger(self, until: float) -> None:
        """on-alert: record (pre-roll included) until wall time ``until``."""
        self.sink.armed_until = max(self.sink.armed_until, until)

    def set_paused(self, paused: bool) -> None:
        self.sink.paused = paused

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.wait([self._task])
            self._task = None

    async def _run(self) -> None:
        while True:
            try:
                sub = await self.manager.subscribe(self.source_id, "recorder",
                                                   maxsize=self.config.queue)
            except SourceNotFound:
                logger.warning("[%s] recording stopped: the source is gone", self.source_id)
                return
            except RuntimeError:
                return  # the manager is closing
            self._sub = sub
            stream = self.manager.stream(self.source_id)
            audio_sub = stream.audio.subscribe("recorder") if stream is not None else None
            audio_task = asyncio.create_task(self._collect_audio(audio_sub),
                                             name=f"record-audio:{self.source_id}") \
                if audio_sub is not None else None
            try:
                if stream is not None:
                    await self._record(sub, stream)
            except SubscriberClosed:
                logger.debug("[%s] recorder's stream closed; subscribing again",
                             self.source_id)
            finally:
                if audio_task is not None:
                    audio_task.cancel()
                    await asyncio.wait([audio_task])
                if audio_sub is not None and stream is not None:
                    stream.audio.unsubscribe(audio_sub)
                self.manager.unsubscribe(sub)
                self._dropped += sub.dropped
                self._sub = None
                self._report(await asyncio.to_thread(self.sink.close))
            await asyncio.sleep(RESUBSCRIBE_DELAY)

    async def _collect_audio(self, sub: AudioSubscriber) -> None:
        try:
            while True:
                frame = await sub.recv()
                if len(self._audio) == self._audio.maxlen:
                    self._dropped += 1
                self._audio.append((frame, time.time()))
        except AudioSubscriberClosed:
            return

    async def _record(self, sub: Subscriber, stream: Stream) -> None:
        limit = int(self.config.max_buffer_bytes)
        while True:
            try:
                async with asyncio.timeout(self.config.gap):
                    first = await sub.recv()
            except TimeoutError:
                if self.sink.recording:
                    logger.info("[%s] no video for %.0f s: segment closed (gap)",
                                self.source_id, self.config.gap)
                self._report(await asyncio.to_thread(self.sink.gap))
                continue
            now = time.time()
            batch = [(first, now)]
            size = first.size
            while sub.qsize():
                au = await sub.recv()
                batch.append((au, now))
                size += au.size
            if size > limit:
                # over the memory bound: keep from the last keyframe only
                keep = max((i for i, (au, _) in enumerate(batch) if au.keyframe), default=None)
                self._dropped += len(batch) if keep is None else keep
                batch = [] if keep is None else batch[keep:]
            audio = list(self._audio)
            self._audio.clear()
            if audio:
                last = audio[-1][0]
                self._audio_format = AudioFormat(last.codec, last.sample_rate, last.channels,
                                                 last.config)
            audio_format = self._audio_format if stream.audio.format else None
            report = await asyncio.to_thread(
                self.sink.feed, batch, audio, stream.track, audio_format,
                stream.stats.sessions, time.time())
            self.high_water = max(self.high_water, size + self.sink.high_water)
            self._report(report)
            await asyncio.sleep(BATCH_INTERVAL)

    def _report(self, report: SinkReport) -> None:
        self._on_report(self.source_id, report)
