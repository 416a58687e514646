"""Exceptions of the RTMP layer::

    ProtocolError
     └── RtmpError
          ├── HandshakeError   C0/C1/C2 (bad version)
          ├── ChunkError       chunk stream (sizes, headers, limits)
          ├── Amf0Error        AMF0 values (truncated, unknown marker, too deep)
          └── FlvError         FLV video tag bodies and decoder configuration records
"""

from __future__ import annotations

from mediaserver.protocols.errors import ProtocolError

__all__ = ["Amf0Error", "ChunkError", "FlvError", "HandshakeError", "RtmpError"]


class RtmpError(ProtocolError):
    """Malformed or out-of-limits RTMP input."""


class HandshakeError(RtmpError):
    pass


class ChunkError(RtmpError):
    pass


class Amf0Error(RtmpError):
    pass


class FlvError(RtmpError):
    pass
