"""A small aiortc WHIP publisher, for end-to-end tests, benchmarks and load tests.

    async with WhipClient("http://127.0.0.1:8080/whip/cam1", token="...",
                          host_addresses=("127.0.0.1",)) as publisher:
        await publisher.wait_connected(10)

It sends one ``sendonly`` video track (by default :class:`PatternTrack`, a moving test pattern
that aiortc encodes) with ``codec`` preferred ("h264" or "vp8"), non-trickle, and DELETEs the
session on close. ``audio=True`` adds an Opus track (silence).
"""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Sequence

import aiohttp
import av
import numpy as np
from aiortc import (
    AudioStreamTrack,
    MediaStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCRtpSender,
    VideoStreamTrack,
)

from mediaserver.errors import WhipError

from ..peer import restrict_host_addresses
from .endpoint import EndpointClient


class PatternTrack(VideoStreamTrack):
    """A moving gradient, ``width``×``height`` at ``fps`` (cheap to generate)."""

    def __init__(self, width: int = 320, height: int = 240, fps: int = 15) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self._base = np.tile(np.arange(width, dtype=np.uint8), (height, 1))
        self._start: float | None = None
        self._count = 0
        self.frames = 0

    async def recv(self) -> av.VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        due = self._start + self._count / self.fps
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        luma = (self._base + self._count * 4).astype(np.uint8)
        yuv = np.concatenate([luma, np.full((self.height // 2, self.width), 128, np.uint8)])
        frame = av.VideoFrame.from_ndarray(yuv, format="nv12")
        frame.pts = self._count * (90_000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90_000)
        self._count += 1
        self.frames += 1
        return frame


class WhipClient(EndpointClient):
    """One publisher: a sendonly RTCPeerConnection negotiated over WHIP."""

    error = WhipError

    def __init__(self, url: str, *, token: str | None = None,
                 track: MediaStreamTrack | None = None, codec: str = "h264",
                 host_addresses: Sequence[str] = (), request_timeout: float = 30.0,
                 audio: MediaStreamTrack | bool = False) -> None:
        #: an audio track (True: aiortc's silence, encoded to Opus) sent with the video
        self.audio = AudioStreamTrack() if audio is True else (audio or None)
        super().__init__(url, token)
        self.track = track or PatternTrack()
        self.codec = codec
        self.host_addresses = tuple(host_addresses)
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self.connected = asyncio.Event()

    async def _start(self) -> None:
        self._http = aiohttp.ClientSession()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        pc.on("connectionstatechange", self._on_state)
        transceiver = pc.addTransceiver(self.track, direction="sendonly")
        mime = f"video/{self.codec}".lower()
        caps = RTCRtpSender.getCapabilities("video").codecs
        transceiver.setCodecPreferences(
            [c for c in caps if c.mimeType.lower() == mime] +
            [c for c in caps if c.mimeType.lower() == "video/rtx"])
        if self.audio is not None:
            pc.addTransceiver(self.audio, direction="sendonly")
        restrict_host_addresses(pc, self.host_addresses)
        await pc.setLocalDescription(await pc.createOffer())
        await self._post_offer(pc, self._timeout)

    def _on_state(self) -> None:
        if self.pc is not None and self.pc.connectionState == "connected":
            self.connected.set()

    async def wait_connected(self, timeout: float) -> None:
        async with asyncio.timeout(timeout):
            await self.connected.wait()

    async def close(self, delete: bool = True) -> None:
        if delete:
            await self._delete_session()
        if self.pc is not None:
            await self.pc.close()
            self.pc = None
        if self._http is not None:
            await self._http.close()
            self._http = None
