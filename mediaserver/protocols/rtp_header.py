"""Per-receiver RTP headers for payloads built once (RFC 3550 §5.1, RFC 8285 §4.2).

A relay that packetizes an access unit once and sends it to many receivers only writes, per
receiver, what differs between them: the fixed header (payload type, sequence number,
timestamp, SSRC, marker) and the header extensions that receiver negotiated. The extension
block uses the one-byte form (profile ``0xBEDE``); elements with ids 1-14 and 1-16 bytes.
"""

from __future__ import annotations

import struct

__all__ = ["ONE_BYTE_PROFILE", "RtpHeaderWriter", "abs_send_time", "extension_block"]

ONE_BYTE_PROFILE = 0xBEDE
_FIXED = struct.Struct("!BBHII")
_EXT_HEADER = struct.Struct("!HH")


def abs_send_time(ntp_timestamp: int) -> bytes:
    """The 24-bit abs-send-time value (6.18 fixed point seconds) of a 64-bit NTP time."""
    return ((ntp_timestamp >> 14) & 0xFFFFFF).to_bytes(3, "big")


def extension_block(elements: list[tuple[int, bytes]]) -> bytes:
    """A one-byte-header extension block of ``(id, value)`` elements, padded to 32 bits."""
    body = bytearray()
    for ext_id, value in elements:
        if not 1 <= ext_id <= 14:
            raise ValueError(f"one-byte header extension id out of range: {ext_id}")
        if not 1 <= len(value) <= 16:
            raise ValueError(f"one-byte header extension value of {len(value)} bytes")
        body.append((ext_id << 4) | (len(value) - 1))
        body += value
    if not body:
        return b""
    body += b"\x00" * (-len(body) % 4)
    return _EXT_HEADER.pack(ONE_BYTE_PROFILE, len(body) // 4) + bytes(body)


class RtpHeaderWriter:
    """Writes one receiver's packets of one RTP stream around shared payloads.

    :meth:`packets` numbers the payloads of one access unit from :attr:`sequence_number`
    (wrapping at 65536), sets the marker on the last one and prefixes ``extensions`` (a block
    from :func:`extension_block`, the same for every packet of the call).
    """

    __slots__ = ("payload_type", "ssrc", "sequence_number")

    def __init__(self, payload_type: int, ssrc: int, sequence_number: int) -> None:
        if not 0 <= payload_type < 128:
            raise ValueError(f"payload type out of range: {payload_type}")
        self.payload_type = payload_type
        self.ssrc = ssrc & 0xFFFFFFFF
        self.sequence_number = sequence_number & 0xFFFF

    def packets(self, payloads: list[bytes], timestamp: int, extensions: bytes = b"",
                marker: bool = True) -> list[bytes]:
        first = 0x90 if extensions else 0x80
        pt = self.payload_type
        ssrc = self.ssrc
        ts = timestamp & 0xFFFFFFFF
        seq = self.sequence_number
        pack = _FIXED.pack
        last = len(payloads) - 1
        out = [pack(first, pt, (seq + i) & 0xFFFF, ts, ssrc) + extensions + payloads[i]
               for i in range(last)]
        if last >= 0:
            out.append(pack(first, pt | 0x80 if marker else pt, (seq + last) & 0xFFFF, ts,
                            ssrc) + extensions + payloads[last])
        self.sequence_number = (seq + len(payloads)) & 0xFFFF
        return out

    def packet(self, payload: bytes, timestamp: int, marker: bool, extensions: bytes = b""
               ) -> bytes:
        """One packet with the next sequence number (retransmissions on an RTX stream)."""
        first = 0x90 if extensions else 0x80
        seq = self.sequence_number
        self.sequence_number = (seq + 1) & 0xFFFF
        return _FIXED.pack(first, self.payload_type | (0x80 if marker else 0), seq,
                           timestamp & 0xFFFFFFFF, self.ssrc) + extensions + payload
