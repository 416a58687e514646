"""A small aiortc WHEP viewer, for end-to-end tests and the load-test viewer swarm.

    async with WhepClient("http://127.0.0.1:8080/whep/cam1", token="...",
                          host_addresses=("127.0.0.1",)) as viewer:
        await viewer.wait_frames(25, timeout=10)
        print(viewer.first_frame_delay, viewer.width, viewer.height, viewer.fps())

It offers one recvonly video m-line (aiortc offers VP8 and H.264; the hub answers H.264), sends
the complete offer (non-trickle), applies the answer and counts decoded frames. aiortc always
decodes what it receives (one decoder thread per viewer), so a swarm costs decode CPU.
With ``audio=True`` it also offers a recvonly audio m-line and counts decoded audio frames
(:attr:`audio_frames`, :attr:`audio_sample_rate`, :meth:`wait_audio_frames`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Sequence

import aiohttp
import numpy as np
from aiortc import (
    MediaStreamTrack,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
)
from aiortc.mediastreams import MediaStreamError

from mediaserver.core.tasks import cancel_and_wait
from mediaserver.errors import WhepError

from ..peer import restrict_host_addresses
from .endpoint import EndpointClient

logger = logging.getLogger(__name__)


class WhepClient(EndpointClient):
    """One viewer: a recvonly RTCPeerConnection negotiated over WHEP, with frame counters."""

    error = WhepError

    def __init__(self, url: str, *, token: str | None = None,
                 host_addresses: Sequence[str] = (), ice_servers: Sequence[str] = (),
                 http: aiohttp.ClientSession | None = None, request_timeout: float = 30.0,
                 keep_frame_times: int = 3000, audio: bool = False,
                 answer_filter: Callable[[str], str] | None = None) -> None:
        super().__init__(url, token)
        #: rewrites the SDP answer before it is applied (tests put a lossy relay in the path)
        self.answer_filter = answer_filter
        self.audio = audio
        self.audio_frames = 0
        self.audio_samples = 0
        self.audio_sample_rate: int | None = None
        #: the loudest decoded sample so far (s16): 0 means only silence arrived
        self.audio_peak = 0
        self._audio_event = asyncio.Event()
        self._audio_reader: asyncio.Task[None] | None = None
        self.host_addresses = tuple(host_addresses)
        self.ice_servers = tuple(ice_servers)
        self._http = http
        self._own_http = http is None
        self._request_timeout = request_timeout
        self.etag: str | None = None
        self.first_frame_at: float | None = None
        self.frames = 0
        self.width: int | None = None
        self.height: int | None = None
        self.frame_times: collections.deque[float] = collections.deque(maxlen=keep_frame_times)
        self.ended = asyncio.Event()
        self._frame_event = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    async def _start(self) -> None:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        pc = RTCPeerConnection(RTCConfiguration(
            iceServers=[RTCIceServer(urls=u) for u in self.ice_servers]))
        self.pc = pc
        pc.addTransceiver("video", direction="recvonly")
        if self.audio:
            pc.addTransceiver("audio", direction="recvonly")
        restrict_host_addresses(pc, self.host_addresses)
        pc.on("track", self._on_track)
        await pc.setLocalDescription(await pc.createOffer())
        headers = await self._post_offer(pc, aiohttp.ClientTimeout(total=self._request_timeout),
                                         self.answer_filter)
        self.etag = headers.get("ETag")

    async def close(self, delete: bool = True) -> None:
        """DELETE the session (errors ignored), stop the reader, close the peer connection."""
        if delete:
            await self._delete_session()
        await cancel_and_wait(self._reader, self._audio_reader)
        self._reader = self._audio_reader = None
        if self.pc is not None:
            await self.pc.close()
        if self._own_http and self._http is not None:
            await self._http.close()
            self._http = None

    async def delete(self) -> int:
        """Send DELETE for the session and return the status (the peer connection stays)."""
        assert self._http is not None and self.session_url is not None
        async with self._http.delete(self.session_url, headers=self._headers()) as resp:
            await resp.read()
            status = resp.status
        self.session_url = None
        return status

    # -- frames ---------------------------------------------------------------------------

    @property
    def first_frame_delay(self) -> float | None:
        """Seconds from sending the offer to the first decoded frame."""
        if self.first_frame_at is None or self.post_started is None:
            return None
        return self.first_frame_at - self.post_started

    def fps(self, window: float = 2.0) -> float:
        """Decoded frames per second over the last ``window`` seconds."""
        now = time.monotonic()
        recent = [t for t in self.frame_times if now - t <= window]
        return len(recent) / window

    def frames_between(self, start: float, end: float) -> int:
        return sum(1 for t in self.frame_times if start <= t < end)

    async def wait_frames(self, count: int, timeout: float) -> None:
        """Wait until ``count`` frames were decoded in total; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while self.frames < count:
                if self.ended.is_set():
                    raise MediaStreamError("track ended")
                self._frame_event.clear()
                await self._frame_event.wait()

    async def wait_audio_frames(self, count: int, timeout: float) -> None:
        """Wait until ``count`` audio frames were decoded in total; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while self.audio_frames < count:
                self._audio_event.clear()
                await self._audio_event.wait()

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self._reader is None:
            self._reader = asyncio.create_task(self._read(track), name="whep-client-reader")
        elif track.kind == "audio" and self._audio_reader is None:
            self._audio_reader = asyncio.create_task(self._read_audio(track),
                                                     name="whep-client-audio")

    async def _read_audio(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                self.audio_frames += 1
                self.audio_samples += frame.samples
                self.audio_sample_rate = frame.sample_rate
                if frame.format.name == "s16":
                    self.audio_peak = max(self.audio_peak,
                                          int(np.abs(frame.to_ndarray()).max(initial=0)))
                self._audio_event.set()
        except MediaStreamError:
            pass

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                frame = await track.recv()
                now = time.monotonic()
                if self.first_frame_at is None:
                    self.first_frame_at = now
                self.frames += 1
                self.frame_times.append(now)
                self.width, self.height = frame.width, frame.height
                self._frame_event.set()
        except MediaStreamError:
            pass
        finally:
            self.ended.set()
            self._frame_event.set()
