"""The audio side-channel of a Stream: encoded audio frames fanned out to bounded subscribers.

Video and its GOP cache stay untouched; audio has no cache (a late joiner starts with the
next frame) and no keyframes, so a full subscriber queue drops its *oldest* frame (late
audio is useless) and counts it. Publishers call :meth:`AudioChannel.publish`; consumers
(the AAC→Opus transcoder) call :meth:`AudioChannel.subscribe` and ``await sub.recv()``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from dataclasses import dataclass

from ..errors import AudioSubscriberClosed

logger = logging.getLogger(__name__)

#: about 2 s of AAC at 48 kHz (1024 samples a frame)
DEFAULT_AUDIO_QUEUE = 96


@dataclass(frozen=True, slots=True)
class AudioFrame:
    """One encoded audio frame; ``pts`` counts samples (``1/sample_rate`` time base)."""

    data: bytes
    pts: int
    codec: str  # "aac" | "opus"
    sample_rate: int
    channels: int
    #: decoder configuration (AAC: the AudioSpecificConfig)
    config: bytes = b""


class AudioSubscriber:
    def __init__(self, stream_id: str, name: str, maxsize: int) -> None:
        self.stream_id = stream_id
        self.name = name
        self._queue: collections.deque[AudioFrame] = collections.deque()
        self._maxsize = max(1, maxsize)
        self._waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.dropped = 0

    def offer(self, frame: AudioFrame) -> None:
        if self.closed:
            return
        if len(self._queue) >= self._maxsize:
            self._queue.popleft()
            self.dropped += 1
            if self.dropped % 100 == 1:
                logger.info("[%s] audio subscriber %s too slow: %d frames dropped",
                            self.stream_id, self.name, self.dropped)
        self._queue.append(frame)
        self._wake()

    async def recv(self) -> AudioFrame:
        while not self._queue:
            if self.closed:
                raise AudioSubscriberClosed(self.stream_id)
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._queue.popleft()

    def close(self) -> None:
        self.closed = True
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class AudioChannel:
    """Audio fan-out of one Stream."""

    def __init__(self, stream_id: str) -> None:
        self.stream_id = stream_id
        #: the newest frame's (codec, sample_rate, channels), None before any audio
        self.format: tuple[str, int, int] | None = None
        self.frames_in = 0
        self.bytes_in = 0
        self._subscribers: list[AudioSubscriber] = []

    def publish(self, frame: AudioFrame) -> None:
        """Fan one frame out; never blocks."""
        fmt = (frame.codec, frame.sample_rate, frame.channels)
        if fmt != self.format:
            logger.info("[%s] audio %s %d Hz, %d channel(s)", self.stream_id, *fmt)
            self.format = fmt
        self.frames_in += 1
        self.bytes_in += len(frame.data)
        for sub in self._subscribers:
            sub.offer(frame)

    def reset(self) -> None:
        """A new publisher session: forget the previous publisher's audio format."""
        self.format = None

    def subscribe(self, name: str, maxsize: int = DEFAULT_AUDIO_QUEUE) -> AudioSubscriber:
        sub = AudioSubscriber(self.stream_id, name, maxsize)
        self._subscribers.append(sub)
        return sub

    def unsubscribe(self, sub: AudioSubscriber) -> None:
        sub.close()
        try:
            self._subscribers.remove(sub)
        except ValueError:
            pass

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    @property
    def dropped(self) -> int:
        return sum(s.dropped for s in self._subscribers)

    def close(self) -> None:
        for sub in tuple(self._subscribers):
            self.unsubscribe(sub)
        self.format = None
