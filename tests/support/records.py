"""Captured-bytes fixtures of the protocol tests: records, each a 4-byte big-endian length
followed by that many bytes (RTP/RTCP datagrams, encoded access units)."""

from __future__ import annotations

import struct
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "protocols" / "fixtures"


def load_records(name: str) -> list[bytes]:
    """The records of ``tests/protocols/fixtures/{name}``."""
    data = (FIXTURES / name).read_bytes()
    out, pos = [], 0
    while pos < len(data):
        (size,) = struct.unpack_from("!I", data, pos)
        out.append(data[pos + 4 : pos + 4 + size])
        pos += 4 + size
    return out
