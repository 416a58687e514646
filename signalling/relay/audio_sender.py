"""One viewer's Opus on the fast path: the relayed packets as they are (one RTP payload each),
this viewer's header (SSRC, sequence number, timestamp offset, payload type, mid), SRTP and
the send, without aiortc's per-packet sender coroutine."""

from __future__ import annotations

import asyncio
import logging
import secrets

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError

from mediaserver.protocols.rtcp import ntp_now
from mediaserver.protocols.rtp_header import RtpHeaderWriter, extension_block
from signalling.whip_audio import OpusRelayTrack

from . import aiortc_seam
from .counters import RelayCounters

logger = logging.getLogger(__name__)


class FastAudioSender:
    def __init__(self, track: OpusRelayTrack, transceiver: RTCRtpTransceiver,
                 counters: RelayCounters, *, log_prefix: str = "") -> None:
        self.track = track
        self._sender = transceiver.sender
        aiortc_seam.check_seams(self._sender)
        self.params = aiortc_seam.send_parameters(transceiver)
        self._path = aiortc_seam.DatagramPath(self._sender.transport, gso=False)
        self._counters = counters
        self._log_prefix = log_prefix
        p = self.params
        self._writer = RtpHeaderWriter(p.payload_type, p.ssrc, secrets.randbelow(1 << 15))
        self._ts_origin = secrets.randbits(32)
        self._extensions = extension_block([(p.mid_id, p.mid.encode())]) \
            if p.mid_id and p.mid else b""
        self._task: asyncio.Task[None] | None = None
        self.packets_sent = 0
        self.payload_bytes = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"relay-audio:{self._log_prefix}")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        self._path.close()

    async def _run(self) -> None:
        try:
            if not await aiortc_seam.wait_connected(self._sender.transport):
                return
            while True:
                data, pts = await self.track.next_packet()
                timestamp = (self._ts_origin + pts) & 0xFFFFFFFF
                packets = self._writer.packets([data], timestamp, self._extensions,
                                               marker=False)
                send = self._path.sync_sender()
                sent = send(packets) if send is not None else \
                    await self._path.send_slow(packets)
                if sent < 0:
                    return
                self.packets_sent += 1
                self.payload_bytes += len(data)
                counters = self._counters
                counters.audio_packets_sent += 1
                counters.bytes_sent += sent
                aiortc_seam.report_sent(self._sender, self.packets_sent, self.payload_bytes,
                                        ntp_now(), timestamp)
        except MediaStreamError:
            pass
