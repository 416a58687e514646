"""RTP packets and sequence-number tracking (RFC 3550).

:class:`RtpPacket` parses and serializes the fixed header, CSRC list, header extension and
padding of RFC 3550 §5.1 and §5.3.1. :class:`SequenceTracker` follows the 16-bit sequence
number across wrap-around and counts loss in the spirit of RFC 3550 Appendix A.1 and A.3.
RTCP lives in :mod:`mediaserver.protocols.rtcp` and is re-exported here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import NoReturn

from mediaserver.protocols.errors import RtpError
from mediaserver.protocols.rtcp import (
    ReceptionReport,
    RtcpBye,
    RtcpGeneric,
    RtcpPacket,
    RtcpReceiverReport,
    RtcpSenderReport,
    RtcpSourceDescription,
    SdesChunk,
    build_receiver_report,
    build_sender_report,
    ntp_middle32,
    ntp_now,
    parse_rtcp,
    serialize_rtcp,
)

__all__ = [
    "SEQ_DUPLICATE",
    "SEQ_LATE",
    "ReceptionReport",
    "RtcpBye",
    "RtcpGeneric",
    "RtcpPacket",
    "RtcpReceiverReport",
    "RtcpSenderReport",
    "RtcpSourceDescription",
    "RtpPacket",
    "SdesChunk",
    "SequenceTracker",
    "build_receiver_report",
    "build_sender_report",
    "ntp_middle32",
    "ntp_now",
    "parse_rtcp",
    "serialize_rtcp",
]

RTP_VERSION = 2
RTP_HEADER_SIZE = 12
_HEADER = struct.Struct("!BBHII")


def _check_field(name: str, value: int, bits: int) -> None:
    if not 0 <= value < 1 << bits:
        raise RtpError(f"RTP {name} out of range: {value}")


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet (RFC 3550 §5.1).

    ``padding_size`` counts the padding octets including the final count octet; padding
    is serialized as zeros followed by the count, which is what senders put on the wire.
    """

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""
    padding_size: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one RTP packet; raise :class:`RtpError` on malformed input."""
        size = len(data)
        if size < RTP_HEADER_SIZE:
            raise RtpError(f"RTP packet too short: {size} bytes (minimum {RTP_HEADER_SIZE})")
        first, second, sequence_number, timestamp, ssrc = _HEADER.unpack_from(data)
        version = first >> 6
        if version != RTP_VERSION:
            raise RtpError(f"RTP version must be 2, got {version}")
        csrc_count = first & 0x0F
        pos = RTP_HEADER_SIZE + 4 * csrc_count
        if size < pos:
            raise RtpError(f"RTP packet too short for {csrc_count} CSRC entries: {size} bytes")
        csrc = struct.unpack_from(f"!{csrc_count}I", data, RTP_HEADER_SIZE) if csrc_count else ()
        extension_profile: int | None = None
        extension = b""
        if first & 0x10:
            if size < pos + 4:
                raise RtpError("RTP header extension truncated")
            extension_profile, words = struct.unpack_from("!HH", data, pos)
            pos += 4
            if pos + 4 * words > size:
                raise RtpError(f"RTP header extension length {4 * words} past end of packet")
            extension = bytes(data[pos : pos + 4 * words])
            pos += 4 * words
        end = size
        padding_size = 0
        if first & 0x20:
            padding_size = data[-1]
            if padding_size == 0:
                raise RtpError("RTP padding size 0 is invalid")
            if padding_size > end - pos:
                raise RtpError(
                    f"RTP padding size {padding_size} exceeds payload length {end - pos}"
                )
            end -= padding_size
        return cls(
            second & 0x7F,
            sequence_number,
            timestamp,
            ssrc,
            bytes(data[pos:end]),
            bool(second & 0x80),
            csrc,
            extension_profile,
            extension,
            padding_size,
        )

    def serialize(self) -> bytes:
        """Return the packet's wire bytes; raise :class:`RtpError` on out-of-range fields."""
        if not self._fields_valid():
            self._raise_invalid()
        first = RTP_VERSION << 6 | len(self.csrc)
        if self.padding_size:
            first |= 0x20
        if self.extension_profile is not None:
            first |= 0x10
        second = self.marker << 7 | self.payload_type
        parts = [_HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)]
        if self.csrc:
            parts.append(struct.pack(f"!{len(self.csrc)}I", *self.csrc))
        if self.extension_profile is not None:
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension) // 4))
            parts.append(self.extension)
        parts.append(self.payload)
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes((self.padding_size,)))
        return b"".join(parts)

    def _fields_valid(self) -> bool:
        return (
            0 <= self.payload_type < 0x80
            and 0 <= self.sequence_number <= 0xFFFF
            and 0 <= self.timestamp <= 0xFFFFFFFF
            and 0 <= self.ssrc <= 0xFFFFFFFF
            and 0 <= self.padding_size <= 0xFF
            and len(self.csrc) <= 15
            and all(0 <= source <= 0xFFFFFFFF for source in self.csrc)
            and (
                self.extension_profile is None
                or (
                    0 <= self.extension_profile <= 0xFFFF
                    and len(self.extension) % 4 == 0
                    and len(self.extension) <= 0xFFFF * 4
                )
            )
        )

    def _raise_invalid(self) -> NoReturn:
        _check_field("payload type", self.payload_type, 7)
        _check_field("sequence number", self.sequence_number, 16)
        _check_field("timestamp", self.timestamp, 32)
        _check_field("SSRC", self.ssrc, 32)
        _check_field("padding size", self.padding_size, 8)
        if len(self.csrc) > 15:
            raise RtpError(f"RTP CSRC list too long: {len(self.csrc)} entries (maximum 15)")
        for source in self.csrc:
            _check_field("CSRC", source, 32)
        if self.extension_profile is not None:
            _check_field("extension profile", self.extension_profile, 16)
        raise RtpError(
            f"RTP header extension length must be a multiple of 4 up to 262140, "
            f"got {len(self.extension)}"
        )


#: :meth:`SequenceTracker.update` result: same sequence number as the newest packet.
SEQ_DUPLICATE = -1
#: :meth:`SequenceTracker.update` result: the packet is older than the newest one.
SEQ_LATE = -2


class SequenceTracker:
    """Follows one source's 16-bit RTP sequence numbers (RFC 3550 A.1, A.3).

    :meth:`update` returns how many packets were skipped before this one (``0`` when it is
    the next in order), or a negative value when the caller should drop the packet:
    :data:`SEQ_DUPLICATE` for a repeat of the newest sequence number, :data:`SEQ_LATE` for
    an older one (a delta of ``0x8000`` or more counts as older). A packet up to
    ``max_misorder`` behind is a reordered one: it is counted as received, and lowers the
    loss count. Further behind, two consecutive packets in a row mean the source restarted
    its numbering (RFC 3550 A.1 "probation"); the tracker then resynchronises and counts
    ``resyncs``.
    """

    __slots__ = (
        "_cycles",
        "_expected",
        "_expected_prior",
        "_max_misorder",
        "_max_seq",
        "_probation",
        "_received_prior",
        "duplicates",
        "received",
        "reordered",
        "resyncs",
    )

    def __init__(self, max_misorder: int = 100) -> None:
        if not 0 <= max_misorder < 0x8000:
            raise ValueError(f"max_misorder out of range: {max_misorder}")
        self._max_misorder = max_misorder
        self._max_seq: int | None = None
        self._cycles = 0
        self._expected = 0
        self._expected_prior = 0
        self._received_prior = 0
        self._probation: int | None = None
        self.received = 0
        self.duplicates = 0
        self.reordered = 0
        self.resyncs = 0

    @property
    def extended_highest(self) -> int:
        """Highest sequence number seen, extended with the wrap-around count."""
        return self._cycles + (self._max_seq or 0)

    @property
    def lost(self) -> int:
        """Cumulative packets lost: expected minus received, never negative."""
        return max(0, self._expected - self.received)

    def update(self, seq: int) -> int:
        """Account for a packet with sequence number ``seq``; see the class docstring."""
        seq &= 0xFFFF
        if self._max_seq is None:
            self._max_seq = seq
            self._expected = self.received = 1
            return 0
        delta = (seq - self._max_seq) & 0xFFFF
        if delta == 0:
            self.duplicates += 1
            return SEQ_DUPLICATE
        if delta < 0x8000:
            if seq < self._max_seq:
                self._cycles += 0x10000
            self._max_seq = seq
            self._expected += delta
            self.received += 1
            self._probation = None
            return delta - 1
        if delta >= 0x10000 - self._max_misorder:
            self.reordered += 1
            self.received += 1
            return SEQ_LATE
        if seq != self._probation:
            self._probation = (seq + 1) & 0xFFFF
            return SEQ_LATE
        # Two consecutive packets far behind: the source restarted its numbering.
        self._cycles += 0x10000
        self._max_seq = seq
        self._probation = None
        self._expected += 1
        self.received += 1
        self.resyncs += 1
        return 0

    def reception_report(
        self, ssrc: int, *, jitter: int = 0, lsr: int = 0, dlsr: int = 0
    ) -> ReceptionReport:
        """Build a report block for ``ssrc`` and start the next interval (RFC 3550 A.3)."""
        expected_interval = self._expected - self._expected_prior
        lost_interval = expected_interval - (self.received - self._received_prior)
        self._expected_prior = self._expected
        self._received_prior = self.received
        fraction = 0
        if expected_interval > 0 and lost_interval > 0:
            fraction = min(255, (lost_interval << 8) // expected_interval)
        return ReceptionReport(
            ssrc=ssrc,
            fraction_lost=fraction,
            packets_lost=self._expected - self.received,
            highest_sequence=self.extended_highest & 0xFFFFFFFF,
            jitter=jitter,
            lsr=lsr,
            dlsr=dlsr,
        )
