"""Exceptions raised by the pure protocol layer.

Every parser in :mod:`mediaserver.protocols` raises a subclass of :class:`ProtocolError`
with a precise message on malformed input. Callers at the network boundary catch the
subclass that fits, drop the input and count it. Tree::

    ValueError
     └── ProtocolError
          ├── RtpError        RTP fixed header and extensions (RFC 3550 §5)
          ├── RtcpError       RTCP compound packets (RFC 3550 §6)
          ├── H264Error       H.264 parameter sets and payload format (RFC 6184)
          └── H265Error       H.265 parameter sets and payload format (RFC 7798)

          (RtspError, SdpError: see :mod:`mediaserver.protocols.rtsp.errors`)
"""

from __future__ import annotations

__all__ = ["H264Error", "H265Error", "ProtocolError", "RtcpError", "RtpError"]


class ProtocolError(ValueError):
    """Malformed or out-of-limits input to a wire-format parser."""


class RtpError(ProtocolError):
    """Malformed RTP packet."""


class RtcpError(ProtocolError):
    """Malformed RTCP packet."""


class H264Error(ProtocolError):
    """Malformed H.264 bitstream element or RTP payload."""


class H265Error(ProtocolError):
    """Malformed H.265 bitstream element or RTP payload."""
