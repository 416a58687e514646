"""Shared per-source AAC → Opus transcoders for WebRTC viewers, started on demand.

A WHEP viewer that offers audio for a source whose Stream carries AAC calls
:meth:`AudioTranscoders.acquire`; the first one starts an :class:`AacOpusTranscoder` (a task
reading the Stream's audio side-channel and a one-worker thread doing PyAV AAC decode →
resample to 48 kHz stereo → libopus encode, 20 ms packets), whose Opus packets go to an
:class:`OpusSink` (the node's :class:`~signalling.opus_relay.AudioRelay`, which fans them out to
the viewers' tracks). :meth:`AudioTranscoders.release` by the last viewer stops it. The
side-channel subscriber's bounded queue absorbs a busy thread; overflow drops the oldest frames
(counted).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from typing import Protocol

import av

from mediaserver.core.audio import AudioFrame
from mediaserver.core.stream import Stream
from mediaserver.errors import AudioSubscriberClosed
from mediaserver.formats.opus import CLOCK_RATE, FRAME_SAMPLES, TIME_BASE

logger = logging.getLogger(__name__)

OPUS_BITRATE = 64_000


class OpusSink(Protocol):
    def begin(self, source_id: str) -> None: ...

    def end(self, source_id: str) -> None: ...

    def publish(self, source_id: str, data: bytes, timestamp: int) -> None: ...


class AacOpusPipeline:
    """Blocking: AAC frames in, ``(opus packet, pts at 48 kHz)`` out. Runs on one thread."""

    def __init__(self, config: bytes, source_id: str) -> None:
        self.config = config
        self._source_id = source_id
        self._decoder = av.CodecContext.create("aac", "r")
        if config:
            self._decoder.extradata = config
        self._resampler = av.AudioResampler(format="s16", layout="stereo", rate=CLOCK_RATE,
                                            frame_size=FRAME_SAMPLES)
        self._encoder = av.CodecContext.create("libopus", "w")
        self._encoder.sample_rate = CLOCK_RATE
        self._encoder.layout = "stereo"
        self._encoder.format = "s16"
        self._encoder.bit_rate = OPUS_BITRATE
        self._encoder.time_base = TIME_BASE
        self._samples = 0
        self._out_pts = 0
        self.decoded = 0
        self.encoded = 0
        self.errors = 0
        self.cpu_seconds = 0.0

    def process(self, frame: AudioFrame) -> list[tuple[bytes, int]]:
        started = time.thread_time()
        try:
            return self._process(frame)
        finally:
            self.cpu_seconds += time.thread_time() - started

    def _process(self, frame: AudioFrame) -> list[tuple[bytes, int]]:
        packet = av.Packet(frame.data)
        packet.pts = frame.pts
        packet.time_base = Fraction(1, frame.sample_rate)
        try:
            decoded = self._decoder.decode(packet)
        except av.FFmpegError as exc:
            self.errors += 1
            logger.debug("[%s] AAC decode error: %s", self._source_id, exc)
            return []
        out: list[tuple[bytes, int]] = []
        for pcm in decoded:
            self.decoded += 1
            pcm.pts = None  # the resampler times its output by sample count
            for chunk in self._resampler.resample(pcm):
                chunk.pts = self._samples
                chunk.time_base = self._encoder.time_base
                self._samples += chunk.samples
                for opus in self._encoder.encode(chunk):
                    self.encoded += 1
                    out.append((bytes(opus), self._out_pts))
                    self._out_pts += opus.duration or FRAME_SAMPLES
        return out


class AacOpusTranscoder:
    """Reads one Stream's AAC side-channel, publishes Opus to ``sink`` under ``source_id``."""

    def __init__(self, source_id: str, stream: Stream, sink: OpusSink) -> None:
        self.source_id = source_id
        self.stream = stream
        self._sink = sink
        self.pipeline: AacOpusPipeline | None = None
        self.started = time.monotonic()
        self.dropped = 0
        self.skipped = 0  # frames that were not AAC

    async def run(self) -> None:
        sub = self.stream.audio.subscribe("transcode:opus")
        executor = ThreadPoolExecutor(max_workers=1,
                                      thread_name_prefix=f"opus-{self.source_id}")
        loop = asyncio.get_running_loop()
        logger.info("[%s] transcoding AAC → Opus", self.source_id)
        try:
            while True:
                try:
                    frame = await sub.recv()
                except AudioSubscriberClosed:
                    logger.info("[%s] audio source closed", self.source_id)
                    return
                if frame.codec != "aac":
                    self.skipped += 1
                    continue
                if self.pipeline is None or frame.config != self.pipeline.config:
                    self.pipeline = AacOpusPipeline(frame.config, self.source_id)
                packets = await loop.run_in_executor(executor, self.pipeline.process, frame)
                self.dropped = sub.dropped
                for data, pts in packets:
                    self._sink.publish(self.source_id, data, pts)
        finally:
            self.stream.audio.unsubscribe(sub)
            executor.shutdown(wait=False, cancel_futures=True)

    def info(self) -> dict[str, object]:
        p = self.pipeline
        return {"source_id": self.source_id, "decoded": p.decoded if p else 0,
                "encoded": p.encoded if p else 0, "errors": p.errors if p else 0,
                "dropped": self.dropped, "cpu_seconds": round(p.cpu_seconds, 3) if p else 0.0,
                "age": round(time.monotonic() - self.started, 1)}


class AudioTranscoders:
    """One AAC→Opus transcoder per source while it has audio viewers; owns their tasks."""

    def __init__(self, sink: OpusSink, max_active: int = 256) -> None:
        self._sink = sink
        self._max_active = max_active
        self._users: dict[str, int] = {}
        self._running: dict[str, tuple[AacOpusTranscoder, asyncio.Task[None]]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.refused = 0
        self.started = 0

    @staticmethod
    def carries_aac(stream: Stream | None) -> bool:
        fmt = stream.audio.format if stream is not None else None
        return fmt is not None and fmt[0] == "aac"

    def acquire(self, source_id: str, stream: Stream) -> bool:
        """One more audio viewer of ``source_id``; False when the node is at its cap."""
        running = self._running.get(source_id)
        if running is None or running[0].stream is not stream or running[1].done():
            if running is None and len(self._running) >= self._max_active:
                self.refused += 1
                return False
            if running is not None:
                running[1].cancel()
            transcoder = AacOpusTranscoder(source_id, stream, self._sink)
            self.started += 1
            task = asyncio.create_task(self._run(transcoder), name=f"opus-{source_id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            self._running[source_id] = (transcoder, task)
        self._users[source_id] = self._users.get(source_id, 0) + 1
        return True

    def release(self, source_id: str) -> None:
        """One audio viewer fewer; the last one stops the transcoder."""
        users = self._users.get(source_id, 0) - 1
        if users > 0:
            self._users[source_id] = users
            return
        self._users.pop(source_id, None)
        running = self._running.pop(source_id, None)
        if running is not None:
            running[1].cancel()

    async def _run(self, transcoder: AacOpusTranscoder) -> None:
        source_id = transcoder.source_id
        self._sink.begin(source_id)
        try:
            await transcoder.run()
        except Exception:
            logger.exception("[%s] AAC → Opus transcoder failed", source_id)
        finally:
            if self._running.get(source_id, (None,))[0] is transcoder:
                del self._running[source_id]
            if source_id not in self._running:
                self._sink.end(source_id)
            logger.info("[%s] AAC → Opus transcoder stopped", source_id)

    def active(self) -> list[AacOpusTranscoder]:
        return [t for t, _task in self._running.values()]

    def info(self) -> list[dict[str, object]]:
        return [t.info() for t in self.active()]

    async def aclose(self) -> None:
        tasks = set(self._tasks)
        self._running.clear()
        self._users.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
