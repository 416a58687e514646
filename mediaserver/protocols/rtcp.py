"""RTCP compound packets (RFC 3550 §6).

:func:`parse_rtcp` splits a datagram into sender reports (§6.4.1), receiver reports
(§6.4.2), source descriptions (§6.5), BYE (§6.6) and, for every other packet type
(feedback of RFC 4585, APP, XR, ...), a :class:`RtcpGeneric` holding the raw body. Every
length field is checked against the datagram before it is used, and a compound packet
holds at most :data:`MAX_COMPOUND_PACKETS` packets. Each packet class has ``serialize()``;
parsing then serializing an unpadded compound packet gives back the same bytes.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import ClassVar

from mediaserver.protocols.errors import RtcpError

__all__ = [
    "MAX_COMPOUND_PACKETS",
    "ReceptionReport",
    "RtcpBye",
    "RtcpGeneric",
    "RtcpPacket",
    "RtcpReceiverReport",
    "RtcpSenderReport",
    "RtcpSourceDescription",
    "SdesChunk",
    "build_receiver_report",
    "build_sender_report",
    "ntp_middle32",
    "ntp_now",
    "parse_rtcp",
    "serialize_rtcp",
]

RTCP_SR = 200
RTCP_RR = 201
RTCP_SDES = 202
RTCP_BYE = 203
SDES_CNAME = 1
MAX_COMPOUND_PACKETS = 32
#: Seconds from the NTP epoch (1900) to the Unix epoch (1970).
NTP_EPOCH_OFFSET = 2_208_988_800

_REPORT = struct.Struct("!IB3sIIII")
_SENDER_INFO = struct.Struct("!IQIII")


def ntp_now() -> int:
    """Return the current wall-clock time as a 64-bit NTP timestamp (RFC 3550 §4)."""
    return int((time.time() + NTP_EPOCH_OFFSET) * (1 << 32)) & 0xFFFFFFFFFFFFFFFF


def ntp_middle32(ntp_timestamp: int) -> int:
    """Return the middle 32 bits of an NTP timestamp: an SR's value for LSR (RFC 3550 §6.4.1)."""
    return (ntp_timestamp >> 16) & 0xFFFFFFFF


def _header(packet_type: int, count: int, body: bytes) -> bytes:
    if count > 31:
        raise RtcpError(f"RTCP item count too large: {count} (maximum 31)")
    if len(body) % 4 or len(body) > 0xFFFF * 4:
        raise RtcpError(f"RTCP body length must be a multiple of 4, got {len(body)}")
    return struct.pack("!BBH", 0x80 | count, packet_type, len(body) // 4) + body


@dataclass(slots=True)
class ReceptionReport:
    """One report block of an SR or RR (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    lsr: int
    dlsr: int

    @classmethod
    def parse(cls, data: bytes, offset: int) -> ReceptionReport:
        ssrc, fraction, lost, highest, jitter, lsr, dlsr = _REPORT.unpack_from(data, offset)
        packets_lost = int.from_bytes(lost, "big", signed=True)
        return cls(ssrc, fraction, packets_lost, highest, jitter, lsr, dlsr)

    def serialize(self) -> bytes:
        # The cumulative loss is a signed 24-bit field; RFC 3550 §6.4.1 says to clamp.
        lost = max(-0x800000, min(0x7FFFFF, self.packets_lost))
        return _REPORT.pack(
            self.ssrc,
            self.fraction_lost,
            lost.to_bytes(3, "big", signed=True),
            self.highest_sequence,
            self.jitter,
            self.lsr,
            self.dlsr,
        )


def _parse_reports(body: bytes, offset: int, count: int, name: str) -> list[ReceptionReport]:
    if offset + count * _REPORT.size > len(body):
        raise RtcpError(f"RTCP {name} too short for {count} report blocks")
    return [ReceptionReport.parse(body, offset + i * _REPORT.size) for i in range(count)]


@dataclass(slots=True)
class RtcpSenderReport:
    """Sender report (SR, RFC 3550 §6.4.1); ``extension`` is any profile-specific tail."""

    packet_type: ClassVar[int] = RTCP_SR
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReceptionReport] = field(default_factory=list)
    extension: bytes = b""

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpSenderReport:
        if len(body) < _SENDER_INFO.size:
            raise RtcpError(f"RTCP SR too short: {len(body)} bytes")
        ssrc, ntp, rtp_ts, packets, octets = _SENDER_INFO.unpack_from(body)
        reports = _parse_reports(body, _SENDER_INFO.size, count, "SR")
        tail = bytes(body[_SENDER_INFO.size + count * _REPORT.size :])
        return cls(ssrc, ntp, rtp_ts, packets, octets, reports, tail)

    def serialize(self) -> bytes:
        info = _SENDER_INFO.pack(
            self.ssrc,
            self.ntp_timestamp & 0xFFFFFFFFFFFFFFFF,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        )
        blocks = b"".join(report.serialize() for report in self.reports)
        return _header(RTCP_SR, len(self.reports), info + blocks + self.extension)


@dataclass(slots=True)
class RtcpReceiverReport:
    """Receiver report (RR, RFC 3550 §6.4.2)."""

    packet_type: ClassVar[int] = RTCP_RR
    ssrc: int
    reports: list[ReceptionReport] = field(default_factory=list)
    extension: bytes = b""

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpReceiverReport:
        if len(body) < 4:
            raise RtcpError(f"RTCP RR too short: {len(body)} bytes")
        reports = _parse_reports(body, 4, count, "RR")
        tail = bytes(body[4 + count * _REPORT.size :])
        return cls(int.from_bytes(body[:4], "big"), reports, tail)

    def serialize(self) -> bytes:
        blocks = b"".join(report.serialize() for report in self.reports)
        body = self.ssrc.to_bytes(4, "big") + blocks + self.extension
        return _header(RTCP_RR, len(self.reports), body)


@dataclass(slots=True)
class SdesChunk:
    """One SDES chunk: a source and its ``(item type, value)`` pairs (RFC 3550 §6.5)."""

    ssrc: int
    items: list[tuple[int, bytes]] = field(default_factory=list)

    def serialize(self) -> bytes:
        out = bytearray(self.ssrc.to_bytes(4, "big"))
        for item_type, value in self.items:
            if not 0 < item_type < 256 or len(value) > 255:
                raise RtcpError(f"RTCP SDES item invalid: type {item_type}, {len(value)} bytes")
            out += bytes((item_type, len(value))) + value
        out += bytes(4 - len(out) % 4)  # null item, then pad to a 32-bit boundary
        return bytes(out)


@dataclass(slots=True)
class RtcpSourceDescription:
    """Source description (SDES, RFC 3550 §6.5)."""

    packet_type: ClassVar[int] = RTCP_SDES
    chunks: list[SdesChunk] = field(default_factory=list)

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpSourceDescription:
        chunks = []
        pos = 0
        for _ in range(count):
            if pos + 4 > len(body):
                raise RtcpError("RTCP SDES chunk truncated")
            chunk = SdesChunk(int.from_bytes(body[pos : pos + 4], "big"))
            pos += 4
            while True:
                if pos >= len(body):
                    raise RtcpError("RTCP SDES chunk not terminated")
                item_type = body[pos]
                if item_type == 0:
                    pos = (pos + 4) & ~3  # null item and padding to a 32-bit boundary
                    break
                if pos + 2 > len(body) or pos + 2 + body[pos + 1] > len(body):
                    raise RtcpError("RTCP SDES item length exceeds packet")
                length = body[pos + 1]
                chunk.items.append((item_type, bytes(body[pos + 2 : pos + 2 + length])))
                pos += 2 + length
            chunks.append(chunk)
        return cls(chunks)

    def serialize(self) -> bytes:
        body = b"".join(chunk.serialize() for chunk in self.chunks)
        return _header(RTCP_SDES, len(self.chunks), body)


@dataclass(slots=True)
class RtcpBye:
    """Goodbye (BYE, RFC 3550 §6.6)."""

    packet_type: ClassVar[int] = RTCP_BYE
    sources: list[int] = field(default_factory=list)
    reason: bytes | None = None

    @classmethod
    def parse(cls, count: int, body: bytes) -> RtcpBye:
        end = 4 * count
        if end > len(body):
            raise RtcpError(f"RTCP BYE too short for {count} sources")
        sources = list(struct.unpack_from(f"!{count}I", body))
        reason = None
        if end < len(body):
            length = body[end]
            if end + 1 + length > len(body):
                raise RtcpError(f"RTCP BYE reason length {length} exceeds packet")
            reason = bytes(body[end + 1 : end + 1 + length])
        return cls(sources, reason)

    def serialize(self) -> bytes:
        body = b"".join(source.to_bytes(4, "big") for source in self.sources)
        if self.reason is not None:
            if len(self.reason) > 255:
                raise RtcpError(f"RTCP BYE reason too long: {len(self.reason)} bytes")
            body += bytes((len(self.reason),)) + self.reason
            body += bytes(-len(body) % 4)
        return _header(RTCP_BYE, len(self.sources), body)


@dataclass(slots=True)
class RtcpGeneric:
    """Any other RTCP packet: its type, 5-bit count field and raw body."""

    packet_type: int
    count: int
    body: bytes

    def serialize(self) -> bytes:
        return _header(self.packet_type, self.count, self.body)


RtcpPacket = RtcpSenderReport | RtcpReceiverReport | RtcpSourceDescription | RtcpBye | RtcpGeneric

_PARSERS = {
    RTCP_SR: RtcpSenderReport.parse,
    RTCP_RR: RtcpReceiverReport.parse,
    RTCP_SDES: RtcpSourceDescription.parse,
    RTCP_BYE: RtcpBye.parse,
}


def parse_rtcp(data: bytes) -> list[RtcpPacket]:
    """Parse a compound RTCP packet; raise :class:`RtcpError` on malformed input."""
    packets: list[RtcpPacket] = []
    pos = 0
    while pos < len(data):
        left = len(data) - pos
        if left < 4:
            raise RtcpError(f"RTCP packet too short: {left} bytes (minimum 4)")
        if len(packets) == MAX_COMPOUND_PACKETS:
            raise RtcpError(f"RTCP compound packet has more than {MAX_COMPOUND_PACKETS} packets")
        first, packet_type, words = struct.unpack_from("!BBH", data, pos)
        if first >> 6 != 2:
            raise RtcpError(f"RTCP version must be 2, got {first >> 6}")
        size = 4 * (words + 1)
        if size > left:
            raise RtcpError(f"RTCP packet length {size} exceeds datagram ({left} bytes left)")
        body = data[pos + 4 : pos + size]
        pos += size
        if first & 0x20:
            padding = body[-1] if body else 0
            if padding == 0 or padding > len(body):
                raise RtcpError(f"RTCP padding size {padding} invalid for {len(body)} bytes")
            body = body[:-padding]
        count = first & 0x1F
        parser = _PARSERS.get(packet_type)
        if parser is None:
            packets.append(RtcpGeneric(packet_type, count, bytes(body)))
        else:
            packets.append(parser(count, body))
    return packets


def serialize_rtcp(packets: list[RtcpPacket]) -> bytes:
    """Serialize ``packets`` as one compound RTCP packet."""
    return b"".join(packet.serialize() for packet in packets)


def _with_cname(packet: RtcpPacket, ssrc: int, cname: str | None) -> bytes:
    packets: list[RtcpPacket] = [packet]
    if cname is not None:
        item = (SDES_CNAME, cname.encode())
        packets.append(RtcpSourceDescription([SdesChunk(ssrc, [item])]))
    return serialize_rtcp(packets)


def build_sender_report(
    ssrc: int,
    ntp_timestamp: int,
    rtp_timestamp: int,
    packet_count: int,
    octet_count: int,
    reports: list[ReceptionReport] | None = None,
    *,
    cname: str | None = None,
) -> bytes:
    """Build an SR, followed by an SDES CNAME when ``cname`` is given (RFC 3550 §6.1)."""
    report = RtcpSenderReport(
        ssrc, ntp_timestamp, rtp_timestamp, packet_count, octet_count, list(reports or [])
    )
    return _with_cname(report, ssrc, cname)


def build_receiver_report(
    ssrc: int, reports: list[ReceptionReport], *, cname: str | None = None
) -> bytes:
    """Build an RR, followed by an SDES CNAME when ``cname`` is given (RFC 3550 §6.1)."""
    return _with_cname(RtcpReceiverReport(ssrc, list(reports)), ssrc, cname)
