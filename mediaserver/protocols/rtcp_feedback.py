"""RTCP feedback messages of RFC 4585 §6 that the hub sends: PLI (§6.3.1) and generic NACK
(§6.2.1). Parsing of received feedback is left to the WebRTC stack (aiortc) and to
:func:`mediaserver.protocols.rtcp.parse_rtcp`, which keeps them as generic packets."""

from __future__ import annotations

import struct
from collections.abc import Iterable

__all__ = ["RTCP_PSFB", "RTCP_RTPFB", "build_nack", "build_pli", "nack_items"]

RTCP_RTPFB = 205
RTCP_PSFB = 206
FMT_NACK = 1
FMT_PLI = 1

_FEEDBACK = struct.Struct("!BBHII")


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """A Picture Loss Indication from ``sender_ssrc`` about ``media_ssrc`` (12 bytes)."""
    return _FEEDBACK.pack(0x80 | FMT_PLI, RTCP_PSFB, 2, sender_ssrc & 0xFFFFFFFF,
                          media_ssrc & 0xFFFFFFFF)


def nack_items(lost: Iterable[int]) -> list[tuple[int, int]]:
    """Group lost sequence numbers into (PID, BLP) pairs: PID and a bitmask of the 16 after."""
    items: list[tuple[int, int]] = []
    for seq in sorted({s & 0xFFFF for s in lost}):
        if items:
            pid, blp = items[-1]
            delta = (seq - pid) & 0xFFFF
            if 1 <= delta <= 16:
                items[-1] = (pid, blp | (1 << (delta - 1)))
                continue
        items.append((seq, 0))
    return items


def build_nack(sender_ssrc: int, media_ssrc: int, lost: Iterable[int]) -> bytes:
    """A generic NACK listing ``lost`` sequence numbers; empty bytes when none are lost."""
    items = nack_items(lost)
    if not items:
        return b""
    fci = b"".join(struct.pack("!HH", pid, blp) for pid, blp in items)
    return _FEEDBACK.pack(0x80 | FMT_NACK, RTCP_RTPFB, 2 + len(items),
                          sender_ssrc & 0xFFFFFFFF, media_ssrc & 0xFFFFFFFF) + fci
