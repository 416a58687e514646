"""Codec-independent NAL unit handling shared by H.264 and H.265.

- Annex-B byte streams (H.264 Annex B, H.265 Annex B): :func:`split_annexb`, :func:`to_annexb`.
- ``sprop-*`` SDP parameters, base64 parameter sets (RFC 6184 §8.1, RFC 7798 §7.1).
- :class:`Frame`, the access unit the RTP depacketizers of :mod:`.nal_rtp` produce.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass

from mediaserver.protocols.errors import ProtocolError

__all__ = [
    "MAX_SPROP_SETS",
    "MAX_SPROP_SET_SIZE",
    "Frame",
    "format_sprop",
    "parse_sprop",
    "split_annexb",
    "to_annexb",
]

START_CODE = b"\x00\x00\x00\x01"
MAX_SPROP_SETS = 16
MAX_SPROP_SET_SIZE = 4096
_MAX_SPROP_ITEM_CHARS = (MAX_SPROP_SET_SIZE + 2) // 3 * 4


@dataclass(slots=True)
class Frame:
    """One access unit: its NAL units (no start codes), RTP timestamp and keyframe flag."""

    nalus: list[bytes]
    timestamp: int
    keyframe: bool


def split_annexb(data: bytes) -> list[bytes]:
    """Split an Annex-B byte stream on 3- and 4-byte start codes.

    Trailing zero bytes of each NAL unit (``trailing_zero_8bits``) and bytes before the
    first start code are discarded; empty NAL units are skipped. Raises
    :class:`ProtocolError` when non-zero data holds no start code at all.
    """
    pos = data.find(b"\x00\x00\x01")
    if pos < 0:
        if data.strip(b"\x00"):
            raise ProtocolError("no Annex-B start code found")
        return []
    nalus = []
    while pos >= 0:
        start = pos + 3
        pos = data.find(b"\x00\x00\x01", start)
        nalu = data[start : pos if pos >= 0 else len(data)].rstrip(b"\x00")
        if nalu:
            nalus.append(bytes(nalu))
    return nalus


def to_annexb(nalus: Iterable[bytes]) -> bytes:
    """Join NAL units into an Annex-B byte stream with 4-byte start codes."""
    return b"".join(START_CODE + bytes(nalu) for nalu in nalus)


def parse_sprop(value: str, name: str, error: type[ProtocolError]) -> list[bytes]:
    """Decode a comma-separated list of base64 parameter sets (at most 16 of 4 KiB each).

    Missing base64 padding and empty items (a trailing comma) are tolerated, as cameras
    send both; anything else raises ``error`` with a message naming the parameter.
    """
    if len(value) > MAX_SPROP_SETS * (_MAX_SPROP_ITEM_CHARS + 1):
        raise error(f"{name} too long: {len(value)} characters")
    items = [item.strip() for item in value.split(",")]
    items = [item for item in items if item]
    if len(items) > MAX_SPROP_SETS:
        raise error(f"{name} has {len(items)} parameter sets (maximum {MAX_SPROP_SETS})")
    sets = []
    for item in items:
        if len(item) > _MAX_SPROP_ITEM_CHARS:
            raise error(f"{name} parameter set larger than {MAX_SPROP_SET_SIZE} bytes")
        try:
            decoded = base64.b64decode(item + "=" * (-len(item) % 4), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise error(f"{name} is not valid base64: {item[:32]!r}") from exc
        sets.append(decoded)
    return sets


def format_sprop(nalus: Iterable[bytes]) -> str:
    """Encode parameter sets as a comma-separated base64 list."""
    return ",".join(base64.b64encode(bytes(nalu)).decode("ascii") for nalu in nalus)
