"""RTSP/1.0 wire format (RFC 2326): messages, header values and their errors. Pure, sans-IO."""

from mediaserver.protocols.rtsp.errors import RtspError, SdpError
from mediaserver.protocols.rtsp.headers import Headers
from mediaserver.protocols.rtsp.message import (
    InterleavedFrame,
    MessageReader,
    Request,
    Response,
)
from mediaserver.protocols.rtsp.transport import (
    NptRange,
    TransportSpec,
    format_range,
    parse_range,
    parse_session,
    parse_transport,
)

__all__ = [
    "Headers",
    "InterleavedFrame",
    "MessageReader",
    "NptRange",
    "Request",
    "Response",
    "RtspError",
    "SdpError",
    "TransportSpec",
    "format_range",
    "parse_range",
    "parse_session",
    "parse_transport",
]
