"""One viewer's video on the fast path: headers, SRTP, send; NACK and PLI answers.

:class:`FastVideoSender` owns one task that takes paced access units from the viewer's
:class:`~signalling.tracks.PacketVideoTrack` (the GOP-cache start, the paced catch-up and the
slow-viewer drop to the next keyframe are the track's and its Subscriber's, unchanged), looks
their RTP payloads up in the stream's shared :class:`~.packetized.PacketizationCache`, writes
this viewer's headers (SSRC, sequence number, timestamp offset, payload type, the header
extensions it negotiated) and protects and sends the whole access unit in one synchronous call:
one wake-up per access unit, no per-packet coroutine.

RTCP from the viewer (see :func:`.aiortc_seam.intercept_rtcp`):

- NACK: the lost packets are looked up in this viewer's last :data:`HISTORY_UNITS` access units
  (references into the shared cache, not copies) and re-sent, on the RTX stream when
  negotiated (RFC 4588); without RTX, libsrtp refuses to protect a sequence number twice, so
  those are counted as unserved;
- PLI / FIR: when the stream's cached keyframe is younger than :data:`GOP_ANSWER_AGE`, the
  viewer restarts from the cached GOP (paced); otherwise the publisher is asked for a
  keyframe (rate-limited per source, see :mod:`mediaserver.core.keyframe_request`);
  a source that cannot be asked falls back to the cached GOP. At most one restart per viewer
  per :data:`MIN_RESTART_INTERVAL`; nothing is replayed while the source is not publishing
  (a camera that died must look stalled, not loop its last GOP).
"""

from __future__ import annotations

import collections
import logging
import secrets
import time
from collections.abc import Callable

from aiortc import RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import (
    RTCP_PSFB_FIR,
    RTCP_PSFB_PLI,
    RTCP_RTPFB_NACK,
    RtcpPsfbPacket,
    RtcpRtpfbPacket,
)

from mediaserver.core.stream import Stream
from mediaserver.protocols.rtcp import ntp_now
from mediaserver.protocols.rtp_header import RtpHeaderWriter, abs_send_time, extension_block
from signalling.tracks import PacketVideoTrack

from . import aiortc_seam
from .caches import PacketizationCaches
from .counters import RelayCounters
from .fast_sender import FastSender
from .packetized import PacketizationCache, PacketizedUnit

logger = logging.getLogger(__name__)

#: Access units per viewer that NACKs can reach back to (~2.5 s at 25 fps).
HISTORY_UNITS = 64
#: A viewer whose datagram transport holds more than this (socket full) skips to a keyframe.
MAX_WRITE_BUFFER = 256 * 1024
#: A PLI is answered from the GOP cache when the cached keyframe is at most this old (s).
GOP_ANSWER_AGE = 0.5
MIN_RESTART_INTERVAL = 1.0


class FastVideoSender(FastSender):
    """Sends one viewer's video (see the module docstring); :meth:`start`, :meth:`aclose`."""

    def __init__(self, track: PacketVideoTrack, transceiver: RTCRtpTransceiver,
                 caches: PacketizationCaches, stream: Callable[[], Stream | None],
                 counters: RelayCounters, *, log_prefix: str = "") -> None:
        super().__init__(transceiver, counters, log_prefix=log_prefix, gso=True)
        self.track = track
        self._caches = caches
        self._stream_id = track.subscriber.stream_id
        self._cache: PacketizationCache | None = caches.acquire(self._stream_id, "h264")
        self._stream = stream
        p = self.params
        self._rtx = (RtpHeaderWriter(p.rtx_payload_type, p.rtx_ssrc, secrets.randbelow(1 << 15))
                     if p.rtx_payload_type is not None else None)
        self._history: collections.deque[tuple[int, int, bytes, PacketizedUnit]] = \
            collections.deque(maxlen=HISTORY_UNITS)
        self._last_restart = float("-inf")
        self.bytes_sent = 0
        self.retransmitted = 0

    def start(self) -> None:
        aiortc_seam.intercept_rtcp(self._sender, self._on_rtcp)
        super().start()

    def release(self) -> None:
        """Let go of the shared cache, the history and the socket (idempotent)."""
        if self._cache is not None:
            self._cache = None
            self._caches.release(self._stream_id, "h264")
        self._history.clear()
        super().release()

    # -- media ------------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            if not await aiortc_seam.wait_connected(self._sender.transport):
                return
            while True:
                au, pts = await self.track.next_unit()
                if self._path.write_buffer_size() > MAX_WRITE_BUFFER:
                    self._counters.slow_drops += 1
                    self.track.subscriber.resync()  # resume at the next keyframe
                    continue
                if self._cache is None:
                    return
                unit = self._cache.get(au)
                if not await self._send_unit(unit, (self._ts_origin + pts) & 0xFFFFFFFF):
                    return
        except MediaStreamError:
            pass  # the subscriber closed: the session ends through the track's "ended"
        finally:
            self.track.stop()

    def _extensions(self) -> tuple[bytes, int]:
        ntp = ntp_now()
        elements = list(self._mid)
        if self.params.abs_send_time_id:
            elements.append((self.params.abs_send_time_id, abs_send_time(ntp)))
        return extension_block(elements), ntp

    async def _send_unit(self, unit: PacketizedUnit, timestamp: int) -> bool:
        extensions, ntp = self._extensions()
        first_seq = self._writer.sequence_number
        packets = self._writer.packets(unit.payloads, timestamp, extensions)
        sent = await self._send(packets)
        if sent < 0:
            return False
        self._history.append((first_seq, timestamp, extensions, unit))
        self.packets_sent += len(packets)
        self.bytes_sent += sent
        self.payload_bytes += unit.size
        counters = self._counters
        counters.units_sent += 1
        counters.packets_sent += len(packets)
        counters.bytes_sent += sent
        aiortc_seam.report_sent(self._sender, self.packets_sent, self.payload_bytes, ntp,
                                timestamp)
        return True

    # -- RTCP -------------------------------------------------------------------------------

    def _on_rtcp(self, packet: object) -> bool:
        if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == RTCP_RTPFB_NACK:
            self._counters.nack_received += 1
            self._retransmit(packet.lost)
            return True
        if isinstance(packet, RtcpPsfbPacket) and packet.fmt in (RTCP_PSFB_PLI, RTCP_PSFB_FIR):
            self._keyframe_request()
            return True
        return False

    def _find(self, seq: int) -> tuple[int, bytes, bytes, bool] | None:
        for first, timestamp, extensions, unit in reversed(self._history):
            index = (seq - first) & 0xFFFF
            if index < len(unit.payloads):
                return timestamp, extensions, unit.payloads[index], \
                    index == len(unit.payloads) - 1
        return None

    def _retransmit(self, lost: list[int]) -> None:
        counters = self._counters
        send = self._path.sync_sender()
        if self._rtx is None or send is None:
            counters.nack_unserved += len(lost)
            return
        packets = []
        for seq in lost:
            found = self._find(seq)
            if found is None:
                counters.nack_unserved += 1
                continue
            timestamp, extensions, payload, marker = found
            osn = (seq & 0xFFFF).to_bytes(2, "big")
            packets.append(self._rtx.packet(osn + payload, timestamp, marker, extensions))
        if packets:
            self.bytes_sent += max(0, send(packets))
            self.retransmitted += len(packets)
            counters.retransmitted += len(packets)

    def _keyframe_request(self) -> None:
        counters = self._counters
        counters.keyframe_requests += 1
        stream = self._stream()
        now = time.monotonic()
        if stream is None or not stream.publishing or \
                now - self._last_restart < MIN_RESTART_INTERVAL:
            return  # a source that stopped has nothing new: never replay its last GOP
        gop = stream.gop()
        if gop and now - stream.keyframe_at <= GOP_ANSWER_AGE:
            self._restart_from(gop)
            counters.keyframes_from_cache += 1
        elif stream.keyframe_requests.request():
            counters.keyframes_from_upstream += 1
        elif gop:
            self._restart_from(gop)
            counters.keyframes_from_cache += 1

    def _restart_from(self, gop: tuple[object, ...]) -> None:
        self._last_restart = time.monotonic()
        sub = self.track.subscriber
        sub.resync()
        for au in gop:
            sub.offer(au)  # type: ignore[arg-type]
        self.track.restart_catch_up()
        logger.debug("[%s] viewer restarted from the cached GOP (%d pictures)",
                     self._log_prefix, len(gop))
