"""RTP payload engine for NAL-unit codecs (RFC 6184 §5, RFC 7798 §4).

Single NAL unit packets, aggregation packets (STAP-A / AP) and fragmentation units
(FU-A / FU) work the same way for H.264 and H.265; only the header layouts differ. The
codec modules subclass :class:`NalDepacketizer` and :class:`NalPacketizer` with them.

A depacketizer never raises on payload content: malformed packets are dropped and counted,
and reassembly is capped by the limits given to the constructor.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import ClassVar

from mediaserver.protocols.nal import Frame
from mediaserver.protocols.rtp import RTP_HEADER_SIZE, RtpPacket, SequenceTracker

__all__ = ["NalDepacketizer", "NalPacketizer"]


class NalDepacketizer:
    """Reassembles access units from one RTP stream (RFC 6184 §5, RFC 7798 §4).

    :meth:`push` takes packets in arrival order and returns the frames they complete. A
    frame ends at a packet with the marker bit or when the timestamp changes. A sequence
    gap discards the frame in progress, and the frame the next packet belongs to, since
    either may have lost data (``dropped_frames``, ``lost_packets``). Duplicate and late
    packets are dropped (``late_packets``). Malformed payloads are dropped and counted
    (``malformed``) and their frame is discarded; a frame over ``max_nalus``,
    ``max_frame_size`` or a NAL unit over ``max_nalu_size`` is discarded (``oversized``).
    With ``require_keyframe`` frames are held back at the start and after each loss until a
    keyframe arrives.
    """

    #: Size of the codec's NAL unit header (1 for H.264, 2 for H.265).
    HEADER_SIZE: ClassVar[int]
    AGGREGATION: ClassVar[int]
    FRAGMENTATION: ClassVar[int]
    #: NAL unit types dropped silently (unspecified or reserved for RTP use).
    IGNORED: ClassVar[frozenset[int]]
    #: Packetization types this implementation does not support (counted, dropped).
    UNSUPPORTED: ClassVar[frozenset[int]]
    KEYFRAME: ClassVar[frozenset[int]]

    def __init__(
        self,
        *,
        max_nalus: int = 128,
        max_frame_size: int = 8 * 1024 * 1024,
        max_nalu_size: int = 4 * 1024 * 1024,
        require_keyframe: bool = False,
    ) -> None:
        self.max_nalus = max_nalus
        self.max_frame_size = max_frame_size
        self.max_nalu_size = max_nalu_size
        self.require_keyframe = require_keyframe
        self._tracker = SequenceTracker()
        self._ssrc: int | None = None
        self._timestamp: int | None = None
        self._nalus: list[bytes] = []
        self._size = 0
        self._fu: list[bytes] | None = None
        self._fu_size = 0
        self._discard = False
        self._wait_keyframe = require_keyframe
        self.frames = 0
        self.dropped_frames = 0
        self.lost_packets = 0
        self.late_packets = 0
        self.malformed = 0
        self.oversized = 0
        self.ignored = 0
        self.unsupported = 0

    @staticmethod
    def nal_type(nalu: bytes) -> int:
        raise NotImplementedError

    @staticmethod
    def fu_header(payload: bytes) -> tuple[bool, bool, bytes]:
        """Return ``(start, end, reconstructed NAL header)`` of a fragmentation unit."""
        raise NotImplementedError

    def push(self, packet: RtpPacket) -> list[Frame]:
        """Feed one RTP packet; return the frames it completes (usually zero or one)."""
        frames: list[Frame] = []
        if packet.ssrc != self._ssrc:
            if self._ssrc is not None:
                self._drop_frame()
            self._ssrc = packet.ssrc
            self._tracker = SequenceTracker()
        resyncs = self._tracker.resyncs
        gap = self._tracker.update(packet.sequence_number)
        if gap < 0:
            self.late_packets += 1
            return frames
        if gap > 0 or self._tracker.resyncs != resyncs:
            self.lost_packets += gap
            if self._timestamp is not None and packet.timestamp != self._timestamp:
                self._drop_frame()
            self._spoil()  # this packet's frame has lost packets too: drop it at its end
            self._wait_keyframe = self.require_keyframe
        if self._timestamp is not None and packet.timestamp != self._timestamp:
            self._finish(frames)
        self._timestamp = packet.timestamp
        if not self._discard:
            self._payload(packet.payload)
        if packet.marker:
            self._finish(frames)
        return frames

    @property
    def pending_size(self) -> int:
        """Bytes held for the frame in progress, a fragmented NAL unit included."""
        return self._size + self._fu_size

    def _spoil(self) -> None:
        """Free what the frame in progress holds and drop the rest of it when it ends."""
        self._nalus, self._size, self._fu, self._fu_size = [], 0, None, 0
        self._discard = True

    def _drop_frame(self) -> None:
        if self._nalus or self._fu is not None or self._discard:
            self.dropped_frames += 1
        self._reset()
        self._wait_keyframe = self.require_keyframe

    def _reset(self) -> None:
        self._timestamp = None
        self._nalus, self._size, self._fu, self._fu_size = [], 0, None, 0
        self._discard = False

    def _finish(self, frames: list[Frame]) -> None:
        timestamp = self._timestamp
        if self._fu is not None:
            self.malformed += 1  # a fragmented NAL unit without its end
            self._discard = True
        if self._discard:
            self._drop_frame()
            return
        nalus = self._nalus
        self._reset()
        if not nalus or timestamp is None:
            return
        keyframe = any(self.nal_type(nalu) in self.KEYFRAME for nalu in nalus)
        if self._wait_keyframe and not keyframe:
            self.dropped_frames += 1
            return
        self._wait_keyframe = False
        self.frames += 1
        frames.append(Frame(nalus, timestamp, keyframe))

    def _malformed(self) -> None:
        self.malformed += 1
        self._spoil()

    def _oversized(self) -> None:
        self.oversized += 1
        self._spoil()

    def _add(self, nalu: bytes) -> None:
        if len(nalu) < self.HEADER_SIZE:
            self._malformed()
            return
        kind = self.nal_type(nalu)
        if kind in self.IGNORED:
            self.ignored += 1
            return
        if kind in (self.AGGREGATION, self.FRAGMENTATION) or kind in self.UNSUPPORTED:
            self._malformed()  # payload structures cannot nest
            return
        if (
            len(nalu) > self.max_nalu_size
            or len(self._nalus) >= self.max_nalus
            or self._size + len(nalu) > self.max_frame_size
        ):
            self._oversized()
            return
        self._nalus.append(nalu)
        self._size += len(nalu)

    def _payload(self, payload: bytes) -> None:
        if len(payload) < self.HEADER_SIZE:
            self._malformed()
            return
        kind = self.nal_type(payload)
        if self._fu is not None and kind != self.FRAGMENTATION:
            self._malformed()  # a fragmented NAL unit interrupted
        elif kind == self.AGGREGATION:
            self._aggregation(payload)
        elif kind == self.FRAGMENTATION:
            self._fragment(payload)
        elif kind in self.UNSUPPORTED:
            self.unsupported += 1
            self._spoil()
        else:
            self._add(payload)

    def _aggregation(self, payload: bytes) -> None:
        pos = self.HEADER_SIZE
        units = []
        while pos < len(payload):
            if pos + 2 > len(payload):
                self._malformed()
                return
            size = int.from_bytes(payload[pos : pos + 2], "big")
            pos += 2
            if size == 0 or pos + size > len(payload):
                self._malformed()
                return
            units.append(payload[pos : pos + size])
            pos += size
        if not units:
            self._malformed()
            return
        for unit in units:
            self._add(unit)
            if self._discard:
                return

    def _fragment(self, payload: bytes) -> None:
        if len(payload) <= self.HEADER_SIZE + 1:
            self._malformed()
            return
        start, end, header = self.fu_header(payload)
        data = payload[self.HEADER_SIZE + 1 :]
        if start:
            if self._fu is not None:
                self._malformed()  # a new start before the previous end
                return
            self._fu = [header]
            self._fu_size = len(header)
        elif self._fu is None:
            self._malformed()  # continuation without a start
            return
        self._fu_size += len(data)
        if self._fu_size > self.max_nalu_size or self._size + self._fu_size > self.max_frame_size:
            self._oversized()
            return
        self._fu.append(data)
        if end:
            nalu = b"".join(self._fu)
            self._fu = None
            self._fu_size = 0
            self._add(nalu)


class NalPacketizer:
    """Turns access units into RTP packets (RFC 6184 §5, RFC 7798 §4).

    A NAL unit that fits is sent as a single NAL unit packet; consecutive ones that fit
    together are sent in one aggregation packet when ``aggregate`` is true; a larger one
    is fragmented. ``mtu`` is the largest RTP packet produced, header included. The marker
    bit is set on the last packet of each access unit; sequence numbers wrap at 65535.
    """

    HEADER_SIZE: ClassVar[int]

    def __init__(
        self,
        payload_type: int,
        ssrc: int,
        mtu: int = 1200,
        initial_sequence: int | None = None,
        *,
        aggregate: bool = True,
    ) -> None:
        if not 0 <= payload_type < 128:
            raise ValueError(f"payload type out of range: {payload_type}")
        if mtu < RTP_HEADER_SIZE + 2 * self.HEADER_SIZE + 2:
            raise ValueError(f"MTU too small: {mtu}")
        self.payload_type = payload_type
        self.ssrc = ssrc
        self.mtu = mtu
        self.aggregate = aggregate
        if initial_sequence is None:
            initial_sequence = secrets.randbelow(1 << 16)
        self.sequence_number = initial_sequence & 0xFFFF

    @staticmethod
    def aggregation_header(nalus: Sequence[bytes]) -> bytes:
        raise NotImplementedError

    @staticmethod
    def fu_prefix(header: bytes, start: bool, end: bool) -> bytes:
        """Return the payload header and FU header for one fragment of a NAL unit."""
        raise NotImplementedError

    def packetize(self, nalus: Sequence[bytes], timestamp: int) -> list[RtpPacket]:
        """Packetize one access unit; NAL units shorter than a header are skipped."""
        limit = self.mtu - RTP_HEADER_SIZE
        payloads: list[bytes] = []
        group: list[bytes] = []
        group_size = self.HEADER_SIZE
        for nalu in nalus:
            if len(nalu) < self.HEADER_SIZE:
                continue
            if self.aggregate and group_size + 2 + len(nalu) <= limit:
                group.append(nalu)
                group_size += 2 + len(nalu)
                continue
            payloads.extend(self._flush(group))
            group, group_size = [], self.HEADER_SIZE
            if self.aggregate and group_size + 2 + len(nalu) <= limit:
                group, group_size = [nalu], group_size + 2 + len(nalu)
            elif len(nalu) <= limit:
                payloads.append(bytes(nalu))
            else:
                payloads.extend(self._fragments(nalu, limit))
        payloads.extend(self._flush(group))
        packets = []
        for payload in payloads:
            packets.append(
                RtpPacket(
                    self.payload_type,
                    self.sequence_number,
                    timestamp & 0xFFFFFFFF,
                    self.ssrc,
                    payload,
                )
            )
            self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        if packets:
            packets[-1].marker = True
        return packets

    def _flush(self, group: list[bytes]) -> list[bytes]:
        if len(group) == 1:
            return [bytes(group[0])]
        if not group:
            return []
        parts = [self.aggregation_header(group)]
        for nalu in group:
            parts += [len(nalu).to_bytes(2, "big"), nalu]
        return [b"".join(parts)]

    def _fragments(self, nalu: bytes, limit: int) -> list[bytes]:
        header = bytes(nalu[: self.HEADER_SIZE])
        body = memoryview(nalu)[self.HEADER_SIZE :]
        step = limit - self.HEADER_SIZE - 1
        out = []
        for offset in range(0, len(body), step):
            prefix = self.fu_prefix(header, offset == 0, offset + step >= len(body))
            out.append(prefix + body[offset : offset + step])
        return out
