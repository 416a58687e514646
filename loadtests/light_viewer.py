"""A light WHEP viewer: aiortc for ICE and DTLS-SRTP, then RTP counted without jitter buffer,
depacketization or decoding, so 60-100 viewers fit on one core of the load generator.

aiortc's ``RTCDtlsTransport`` unprotects each SRTP packet and hands it to
``_handle_rtp_data(data, arrival_time_ms)``, which parses it and routes it to the receiver's
jitter buffer. :class:`LightViewer` replaces that method on its own transport instance (nothing
is patched globally) with a counter that reads only the fixed header: packets, bytes, lost
sequence numbers, pictures (marker bit), keyframes (H.264 IDR in a single NAL unit, STAP-A or
the first FU-A fragment) and RTX retransmissions (RFC 4588). Optionally it answers losses with
NACKs (``nack=True``) and can ask for a keyframe with :meth:`request_keyframe` (PLI), both
through aiortc's receiver.

The counters follow :class:`loadtests.viewer.FrameCounter`, so the swarm's reports work
unchanged; :meth:`stats` replaces aiortc's inbound-rtp statistics.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Callable, Sequence

import aiohttp
from aiortc import RTCPeerConnection
from aiortc.sdp import SessionDescription

from .viewer import CountingViewer, FrameCounter

logger = logging.getLogger(__name__)

_HEADER = struct.Struct("!BBHII")
_IDR, _SPS, _STAP_A, _FU_A = 5, 7, 24, 28
#: lost sequence numbers remembered for NACK / repair accounting
MAX_MISSING = 512


def h264_keyframe_start(payload: bytes) -> bool:
    """True when an H.264 RTP payload starts an IDR picture (or carries its SPS)."""
    if not payload:
        return False
    kind = payload[0] & 0x1F
    if kind in (_IDR, _SPS):
        return True
    if kind == _FU_A:
        return len(payload) > 1 and bool(payload[1] & 0x80) and payload[1] & 0x1F == _IDR
    if kind == _STAP_A:
        pos = 1
        while pos + 2 < len(payload):
            size = int.from_bytes(payload[pos:pos + 2], "big")
            if payload[pos + 2] & 0x1F in (_IDR, _SPS):
                return True
            pos += 2 + size
    return False


class RtpCounter:
    """Counts one peer connection's video RTP at the DTLS transport (see the module doc)."""

    def __init__(self, nack: bool = False) -> None:
        self.nack = nack
        self.counter = FrameCounter()
        self.packets = 0
        self.bytes = 0
        self.retransmissions = 0
        self.repaired = 0
        self.nacks_sent = 0
        self.plis_sent = 0
        self.keyframe_event = asyncio.Event()
        self._payload_type: int | None = None
        self._rtx_payload_type: int | None = None
        self._media_ssrc: int | None = None
        self._highest: int | None = None
        self._missing: dict[int, bool] = {}
        self._keyframe_ts: int | None = None
        self._picture_size = 0
        self._receiver = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def lost(self) -> int:
        """Sequence numbers missing now (not repaired yet)."""
        return len(self._missing)

    def install(self, pc: RTCPeerConnection, sdp: str) -> None:
        """Count the video of ``pc``, whose payload types ``sdp`` (either side's) names;
        call before DTLS connects."""
        self._learn_payload_types(sdp)
        for transceiver in pc.getTransceivers():
            if transceiver.kind == "video":
                self._receiver = transceiver.receiver
                dtls = transceiver.receiver.transport
                dtls._handle_rtp_data = self._on_rtp  # noqa: SLF001 - this instance only
                return
        raise RuntimeError("no video transceiver to count on")

    def _learn_payload_types(self, sdp: str) -> None:
        for media in SessionDescription.parse(sdp).media:
            if media.kind != "video" or not media.rtp.codecs:
                continue
            main = media.rtp.codecs[0]
            self._payload_type = main.payloadType
            for codec in media.rtp.codecs:
                if codec.mimeType.lower() == "video/rtx" and \
                        str(codec.parameters.get("apt")) == str(main.payloadType):
                    self._rtx_payload_type = codec.payloadType
            return

    async def _on_rtp(self, data: bytes, arrival_time_ms: int) -> None:
        if len(data) < 12:
            return
        first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
        pos = 12 + 4 * (first & 0x0F)
        if first & 0x10 and len(data) >= pos + 4:
            pos += 4 + 4 * int.from_bytes(data[pos + 2:pos + 4], "big")
        end = len(data) - (data[-1] if first & 0x20 and data else 0)
        payload = data[pos:end]
        pt = second & 0x7F
        if pt == self._rtx_payload_type:
            self.retransmissions += 1
            if len(payload) >= 2 and self._missing.pop(int.from_bytes(payload[:2], "big"),
                                                       False):
                self.repaired += 1
            return
        if pt != self._payload_type:
            return
        self.packets += 1
        self.bytes += len(data)
        self._media_ssrc = ssrc
        self._track_sequence(seq)
        if self._keyframe_ts != timestamp and h264_keyframe_start(payload):
            self._keyframe_ts = timestamp
        self._picture_size += len(payload)
        if second & 0x80:  # marker: last packet of a picture
            keyframe = self._keyframe_ts == timestamp
            self.counter.count_picture(self._picture_size, timestamp, keyframe)
            self._picture_size = 0
            if keyframe:
                self.keyframe_event.set()

    def _track_sequence(self, seq: int) -> None:
        if self._highest is None:
            self._highest = seq
            return
        delta = (seq - self._highest) & 0xFFFF
        if delta == 0 or delta >= 0x8000:  # duplicate or late
            self._missing.pop(seq, None)
            return
        lost = [(self._highest + i) & 0xFFFF for i in range(1, min(delta, MAX_MISSING))]
        self._highest = seq
        for missing in lost:
            self._missing[missing] = True
        while len(self._missing) > MAX_MISSING:
            self._missing.pop(next(iter(self._missing)))
        if lost and self.nack:
            self._spawn(self._send_nack(lost))

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send_nack(self, lost: list[int]) -> None:
        if self._receiver is not None and self._media_ssrc is not None:
            self.nacks_sent += 1
            await self._receiver._send_rtcp_nack(self._media_ssrc, lost)  # noqa: SLF001

    async def request_keyframe(self) -> bool:
        """Send a PLI for the video stream; False before any RTP arrived."""
        if self._receiver is None or self._media_ssrc is None:
            return False
        self.keyframe_event.clear()
        self.plis_sent += 1
        await self._receiver._send_rtcp_pli(self._media_ssrc)  # noqa: SLF001
        return True

    async def stats(self) -> dict:
        """What the swarm reads from aiortc's inbound-rtp statistics otherwise."""
        return {"packets": self.packets, "lost": self.lost, "jitter_ms": None,
                "retransmissions": self.retransmissions}

    async def aclose(self) -> None:
        for task in tuple(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


class LightViewer(CountingViewer):
    """One recvonly WHEP viewer that counts RTP (see the module docstring)."""

    def __init__(self, url: str, *, token: str | None = None,
                 host_addresses: Sequence[str] = (), http: aiohttp.ClientSession,
                 timeout: float = 30.0, nack: bool = False,
                 answer_filter: Callable[[str], str] | None = None) -> None:
        super().__init__(url, token=token, host_addresses=host_addresses, http=http,
                         timeout=timeout)
        self.answer_filter = answer_filter
        self.rtp = RtpCounter(nack)
        self.counter = self.rtp.counter
        self.keyframe_event = self.rtp.keyframe_event
        self.answer: str | None = None

    def __getattr__(self, name: str):
        # packets, bytes, lost, retransmissions, repaired, nacks_sent, plis_sent
        return getattr(self.__dict__["rtp"], name)

    def _before_offer(self, pc: RTCPeerConnection) -> None:
        pass  # the counter goes on the DTLS transport once the answer names the payload types

    def _on_answer(self, pc: RTCPeerConnection, answer: str) -> str:
        self.answer = answer
        self.rtp.install(pc, answer)
        return self.answer_filter(answer) if self.answer_filter is not None else answer

    async def request_keyframe(self) -> bool:
        return await self.rtp.request_keyframe()

    async def stats(self) -> dict:
        return await self.rtp.stats()

    async def close(self) -> None:
        await self.rtp.aclose()
        await super().close()
