"""One viewer's Opus on the fast path: the relayed packets as they are (one RTP payload each),
this viewer's header (SSRC, sequence number, timestamp offset, payload type, mid), SRTP and
the send, without aiortc's per-packet sender coroutine."""

from __future__ import annotations

import logging

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError

from mediaserver.protocols.rtcp import ntp_now
from mediaserver.protocols.rtp_header import extension_block
from signalling.opus_relay import OpusRelayTrack

from . import aiortc_seam
from .counters import RelayCounters
from .fast_sender import FastSender

logger = logging.getLogger(__name__)


class FastAudioSender(FastSender):
    def __init__(self, track: OpusRelayTrack, transceiver: RTCRtpTransceiver,
                 counters: RelayCounters, *, log_prefix: str = "") -> None:
        super().__init__(transceiver, counters, log_prefix=log_prefix, gso=False)
        self.track = track
        self._extensions = extension_block(self._mid)

    async def _run(self) -> None:
        try:
            if not await aiortc_seam.wait_connected(self._sender.transport):
                return
            while True:
                data, pts = await self.track.next_packet()
                timestamp = (self._ts_origin + pts) & 0xFFFFFFFF
                packets = self._writer.packets([data], timestamp, self._extensions,
                                               marker=False)
                sent = await self._send(packets)
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
