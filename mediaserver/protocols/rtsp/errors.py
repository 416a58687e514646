"""Errors of the RTSP, SDP and HTTP-auth wire formats.

Both derive from :class:`~mediaserver.protocols.errors.ProtocolError` (a ``ValueError``)::

    ProtocolError
     ├── RtspError    malformed RTSP message, header or parameter; carries the RTSP status
     │                a server should answer with (400, 413, 431, 457, 461, ...)
     └── SdpError     malformed or out-of-limits session description (RFC 8866)
"""

from __future__ import annotations

from mediaserver.protocols.errors import ProtocolError

__all__ = ["RtspError", "SdpError"]


class RtspError(ProtocolError):
    """A malformed RTSP message; ``status`` is the response code a server should send."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message

    def __str__(self) -> str:
        return f"{self.status} {self.message}"


class SdpError(ProtocolError):
    """A malformed or out-of-limits session description."""
