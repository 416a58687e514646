"""RTCP feedback of RFC 4585 §6 that the hub sends upstream: the Picture Loss Indication
(§6.3.1). Parsing of received feedback is left to the WebRTC stack (aiortc) and to
:func:`mediaserver.protocols.rtcp.parse_rtcp`, which keeps it as a generic packet."""

from __future__ import annotations

import struct

__all__ = ["RTCP_PSFB", "build_pli"]

RTCP_PSFB = 206
FMT_PLI = 1

_FEEDBACK = struct.Struct("!BBHII")


def build_pli(sender_ssrc: int, media_ssrc: int) -> bytes:
    """A Picture Loss Indication from ``sender_ssrc`` about ``media_ssrc`` (12 bytes)."""
    return _FEEDBACK.pack(0x80 | FMT_PLI, RTCP_PSFB, 2, sender_ssrc & 0xFFFFFFFF,
                          media_ssrc & 0xFFFFFFFF)
