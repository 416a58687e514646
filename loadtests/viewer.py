"""A WHEP viewer that receives RTP through aiortc but never decodes: it counts encoded frames.

aiortc's :class:`RTCRtpReceiver` reassembles each picture in its jitter buffer and puts
``(codec, JitterFrame)`` on a ``queue.Queue`` read by its decoder thread. :class:`FrameCounter`
takes that queue's place on one receiver: it counts each picture (bytes, keyframes, arrival
time against its RTP timestamp) on the event loop and forwards only the stop sentinel, so the
decoder thread sleeps until the peer closes. Nothing is patched globally: a viewer that wants
decoded frames (``signalling.clients.whep.WhepClient``) works as before in the same process.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Sequence
from urllib.parse import urljoin

import aiohttp
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

from signalling.peer import restrict_host_addresses

logger = logging.getLogger(__name__)

_RECEIVER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_H264_IDR = 5


def is_h264_keyframe(annexb: bytes) -> bool:
    """True if the Annex-B picture holds an IDR slice (NAL type 5)."""
    pos = annexb.find(b"\x00\x00\x01")
    while pos != -1 and pos + 3 < len(annexb):
        if annexb[pos + 3] & 0x1F == _H264_IDR:
            return True
        pos = annexb.find(b"\x00\x00\x01", pos + 3)
    return False


class FrameCounter:
    """Stands in for a receiver's decoder queue: counts pictures, decodes nothing."""

    def __init__(self, clock_rate: int = 90_000, clock=time.monotonic) -> None:
        self._inner: queue.Queue = queue.Queue()
        self._clock = clock
        self._rate = clock_rate
        self.frames = 0
        self.keyframes = 0
        self.bytes = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self._last_ts: int | None = None
        self._unwrapped = 0
        #: (arrival, arrival - RTP time) of each picture, seconds (bounded sample)
        self.offsets: list[tuple[float, float]] = []
        self.max_samples = 30_000

    # the decoder thread's side: it blocks here until the sentinel arrives
    def get(self, *args, **kwargs):
        return self._inner.get(*args, **kwargs)

    def put(self, item) -> None:
        if item is None:
            self._inner.put(None)
            return
        _codec, frame = item
        self.count(frame.data, frame.timestamp)

    def count(self, data: bytes, timestamp: int) -> None:
        self.count_picture(len(data), timestamp, is_h264_keyframe(data))

    def count_picture(self, size: int, timestamp: int, keyframe: bool) -> None:
        now = self._clock()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.frames += 1
        self.bytes += size
        if keyframe:
            self.keyframes += 1
        if self._last_ts is not None:
            delta = (timestamp - self._last_ts) & 0xFFFFFFFF
            self._unwrapped += delta - (1 << 32) if delta >= 1 << 31 else delta
        self._last_ts = timestamp
        if len(self.offsets) < self.max_samples:
            self.offsets.append((now, now - self._unwrapped / self._rate))

    def delays_ms(self, start: float = float("-inf"), end: float = float("inf")) -> list[float]:
        """Arrival delay of each picture received in ``[start, end)`` past the earliest one
        of that window, measured against the pictures' RTP timestamps (ms)."""
        window = [off for at, off in self.offsets if start <= at < end]
        if not window:
            return []
        base = min(window)
        return [(off - base) * 1000 for off in window]


def install_counter(pc: RTCPeerConnection) -> FrameCounter:
    """Put a :class:`FrameCounter` in place of the video receiver's decoder queue (before the
    receiver starts, i.e. before the connection is established)."""
    for transceiver in pc.getTransceivers():
        if transceiver.kind == "video":
            counter = FrameCounter()
            setattr(transceiver.receiver, _RECEIVER_QUEUE, counter)
            return counter
    raise RuntimeError("no video transceiver to count on")


async def inbound_stats(pc: RTCPeerConnection) -> dict:
    """packets received / lost and jitter (ms) of the inbound video RTP stream."""
    report = await pc.getStats()
    result: dict = {"packets": 0, "lost": 0, "jitter_ms": None}
    for stats in report.values():  # one entry per SSRC (a restarted sender adds one)
        if getattr(stats, "type", "") == "inbound-rtp":
            result["packets"] += stats.packetsReceived
            result["lost"] += max(0, stats.packetsLost)
            result["jitter_ms"] = round(stats.jitter / 90, 2)
    return result


class CountingViewer:
    """One WHEP viewer (recvonly, non-trickle) that counts frames without decoding."""

    def __init__(self, url: str, *, token: str | None = None,
                 host_addresses: Sequence[str] = (), http: aiohttp.ClientSession,
                 timeout: float = 30.0) -> None:
        self.url = url
        self.token = token
        self.host_addresses = tuple(host_addresses)
        self._http = http
        self._timeout = timeout
        self.pc: RTCPeerConnection | None = None
        self.counter: FrameCounter | None = None
        self.session_url: str | None = None
        self.started_at: float | None = None
        self.error: str | None = None

    async def start(self) -> None:
        self.started_at = time.monotonic()
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.pc = pc
        pc.addTransceiver("video", direction="recvonly")
        self._before_offer(pc)
        restrict_host_addresses(pc, self.host_addresses)
        await pc.setLocalDescription(await pc.createOffer())
        headers = {"Content-Type": "application/sdp"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        async with self._http.post(self.url, data=pc.localDescription.sdp, headers=headers,
                                   timeout=aiohttp.ClientTimeout(total=self._timeout)) as resp:
            body = await resp.text()
            if resp.status != 201:
                raise ViewerRefused(resp.status, body.strip()[:200])
            self.session_url = urljoin(self.url, resp.headers["Location"])
        body = self._on_answer(pc, body)
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body, type="answer"))

    def _before_offer(self, pc: RTCPeerConnection) -> None:
        """Hook: the video transceiver exists, the offer is not made yet."""
        self.counter = install_counter(pc)

    def _on_answer(self, pc: RTCPeerConnection, answer: str) -> str:
        """Hook: the answer arrived; returns the SDP to apply."""
        return answer

    @property
    def first_frame_s(self) -> float | None:
        if self.counter is None or self.counter.first_at is None or self.started_at is None:
            return None
        return self.counter.first_at - self.started_at

    async def close(self) -> None:
        if self.session_url:
            try:
                async with self._http.delete(self.session_url,
                                             timeout=aiohttp.ClientTimeout(total=5)) as resp:
                    await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                logger.debug("WHEP DELETE failed: %s", exc)
            self.session_url = None
        if self.pc is not None:
            await self.pc.close()


class ViewerRefused(Exception):
    """The server answered the viewer's offer with an error status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
