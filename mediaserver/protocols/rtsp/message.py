"""RTSP/1.0 messages (RFC 2326 §6-7) and interleaved frames (§10.12), sans-IO.

:class:`MessageReader` turns a byte stream into :class:`Request`, :class:`Response` and
:class:`InterleavedFrame` events for both the client and the server side. It enforces the
limits below (in the style of gortsplib) *before* buffering or allocating anything, and
raises :class:`~mediaserver.protocols.rtsp.errors.RtspError` carrying the status a server
should answer with. After an error the stream is out of sync: close the connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mediaserver.protocols.rtsp.errors import RtspError
from mediaserver.protocols.rtsp.headers import Headers

__all__ = [
    "MAX_BODY",
    "MAX_BUFFERED",
    "MAX_HEADERS",
    "MAX_HEADER_BLOCK",
    "MAX_HEADER_VALUE",
    "MAX_METHOD",
    "MAX_URL",
    "REASONS",
    "Headers",
    "InterleavedFrame",
    "MessageReader",
    "Request",
    "Response",
]

MAX_URL = 2048
MAX_METHOD = 64
MAX_HEADERS = 255
MAX_HEADER_VALUE = 2048
MAX_HEADER_BLOCK = 16 * 1024
MAX_BODY = 128 * 1024
#: Longest start line: method, URL, version and separators.
MAX_START_LINE = MAX_METHOD + MAX_URL + 32
#: Bytes the reader holds at most: one complete message plus one read's worth of the next.
MAX_BUFFERED = MAX_HEADER_BLOCK + MAX_BODY + 65536 + 4

REASONS: dict[int, str] = {
    100: "Continue", 200: "OK", 201: "Created", 250: "Low on Storage Space",
    300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    303: "See Other", 305: "Use Proxy", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout",
    410: "Gone", 411: "Length Required", 412: "Precondition Failed",
    413: "Request Entity Too Large", 414: "Request-URI Too Long",
    415: "Unsupported Media Type", 431: "Request Header Fields Too Large",
    451: "Parameter Not Understood", 452: "Conference Not Found", 453: "Not Enough Bandwidth",
    454: "Session Not Found", 455: "Method Not Valid in This State",
    456: "Header Field Not Valid for Resource", 457: "Invalid Range",
    458: "Parameter Is Read-Only", 459: "Aggregate Operation Not Allowed",
    460: "Only Aggregate Operation Allowed", 461: "Unsupported Transport",
    462: "Destination Unreachable", 500: "Internal Server Error", 501: "Not Implemented",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout",
    505: "RTSP Version Not Supported", 551: "Option Not Supported",
}

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"RTSP/(\d)\.(\d)")
_STATUS_LINE = re.compile(rb"RTSP/(\d)\.(\d) (\d{3})(?: (.*))?")
_DECIMAL = re.compile(r"[0-9]{1,12}")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_HEADER_END = re.compile(rb"\r?\n\r?\n")


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogateescape")


def _serialize_head(start: str, headers: Headers, body: bytes) -> bytes:
    lines = [start]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body and "Content-Length" not in headers:
        lines.append(f"Content-Length: {len(body)}")
    return _encode("\r\n".join(lines) + "\r\n\r\n") + body


@dataclass(slots=True)
class Request:
    """An RTSP request; ``uri`` is ``*`` or an absolute ``rtsp://`` URL."""

    method: str
    uri: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def cseq(self) -> int | None:
        """The ``CSeq`` as an integer, None when absent; RtspError(400) when malformed."""
        return _cseq(self.headers)

    def serialize(self) -> bytes:
        if not _TOKEN.fullmatch(_encode(self.method)) or any(c in self.uri for c in " \r\n"):
            raise RtspError(400, "invalid method or URI")
        return _serialize_head(f"{self.method} {self.uri} RTSP/1.0", self.headers, self.body)


@dataclass(slots=True)
class Response:
    """An RTSP response."""

    status: int
    reason: str
    headers: Headers = field(default_factory=Headers)
    body: bytes = b""

    @property
    def cseq(self) -> int | None:
        return _cseq(self.headers)

    @classmethod
    def make(cls, status: int, cseq: int | None, headers: Headers | dict[str, str] | None = None,
             body: bytes = b"") -> Response:
        """A response with the standard reason phrase, ``CSeq`` first, then ``headers``."""
        out = Headers()
        if cseq is not None:
            out["CSeq"] = str(cseq)
        for name, value in (Headers(headers) if isinstance(headers, dict)
                            else headers or Headers()).items():
            out.add(name, value)
        return cls(status, REASONS.get(status, "Unknown"), out, body)

    def serialize(self) -> bytes:
        if not 100 <= self.status <= 999 or any(c in self.reason for c in "\r\n"):
            raise RtspError(500, "invalid status or reason")
        start = f"RTSP/1.0 {self.status} {self.reason}".rstrip()
        return _serialize_head(start, self.headers, self.body)


@dataclass(slots=True)
class InterleavedFrame:
    """A ``$``-framed binary packet on the RTSP connection (RTP or RTCP of one channel)."""

    channel: int
    payload: bytes

    def serialize(self) -> bytes:
        if not 0 <= self.channel <= 255 or len(self.payload) > 0xFFFF:
            raise RtspError(400, f"interleaved frame out of range: channel {self.channel}, "
                            f"{len(self.payload)} bytes")
        return b"$" + bytes((self.channel,)) + len(self.payload).to_bytes(2, "big") \
            + self.payload


def _cseq(headers: Headers) -> int | None:
    value = headers.get("CSeq")
    if value is None:
        return None
    value = value.strip()
    if not _DECIMAL.fullmatch(value):
        raise RtspError(400, f"invalid CSeq {value[:32]!r}")
    return int(value)


Event = Request | Response | InterleavedFrame


class MessageReader:
    """Incremental parser: :meth:`feed` bytes, then call :meth:`next_event` until None."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0  # start of the unconsumed bytes in _buf (compacted on feed)
        self._head: tuple[bytes, Headers, int] | None = None  # start line, headers, length
        self._scanned = 0  # bytes of an incomplete header block already searched

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as events."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        """Append received bytes; raises RtspError(413) past :data:`MAX_BUFFERED`."""
        if self._pos:
            del self._buf[: self._pos]  # one move per read, not one per frame
            self._pos = 0
        if len(self._buf) + len(data) > MAX_BUFFERED:
            raise RtspError(413, f"more than {MAX_BUFFERED} bytes buffered")
        self._buf += data

    def next_event(self) -> Event | None:
        """The next complete message or frame, or None when more bytes are needed."""
        buf = self._buf
        if self._head is None:
            while buf[self._pos : self._pos + 2] == b"\r\n" or \
                    buf[self._pos : self._pos + 1] == b"\n":  # blank lines between messages
                self._pos += 2 if buf[self._pos] == 0x0D else 1
            pos = self._pos
            if pos == len(buf) or buf[pos:] == b"\r":  # a lone CR may be half of a CRLF
                return None
            if buf[pos] == 0x24:  # "$"
                return self._frame()
            self._check_start(buf, pos)
            match = _HEADER_END.search(buf, max(pos, pos + self._scanned - 3))
            if match is None:
                if len(buf) - pos > MAX_HEADER_BLOCK:
                    raise RtspError(431, f"header block exceeds {MAX_HEADER_BLOCK} bytes")
                self._scanned = len(buf) - pos
                return None
            self._scanned = 0
            if match.end() - pos > MAX_HEADER_BLOCK:
                raise RtspError(431, f"header block exceeds {MAX_HEADER_BLOCK} bytes")
            head = bytes(buf[pos : match.start()])
            self._pos = match.end()
            self._head = _parse_head(head)
        start, headers, length = self._head
        if len(buf) - self._pos < length:
            return None
        body = bytes(buf[self._pos : self._pos + length])
        self._pos += length
        self._head = None
        return _build(start, headers, body)

    def _frame(self) -> InterleavedFrame | None:
        buf, pos = self._buf, self._pos
        if len(buf) - pos < 4:
            return None
        length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
        if len(buf) - pos < 4 + length:
            return None
        self._pos = pos + 4 + length
        return InterleavedFrame(buf[pos + 1], bytes(buf[pos + 4 : pos + 4 + length]))

    @staticmethod
    def _check_start(buf: bytearray, pos: int) -> None:
        """Reject a bad start line as early as its first bytes allow."""
        if buf[pos] in b" \t\x00\r\x0b\x0c":
            raise RtspError(400, "leading whitespace or NUL in start line")
        end = buf.find(b"\n", pos, pos + MAX_START_LINE + 1)
        line = buf[pos : end if end >= 0 else pos + MAX_START_LINE + 1]
        if b"\x00" in line:
            raise RtspError(400, "NUL in start line")
        if line.startswith(b"RTSP/"):
            return
        if line.find(b" ", 0, MAX_METHOD + 1) < 0 and len(line) > MAX_METHOD:
            raise RtspError(400, f"method longer than {MAX_METHOD} bytes")
        if end < 0 and len(buf) - pos > MAX_START_LINE:
            raise RtspError(414, f"request line longer than {MAX_START_LINE} bytes")


def _parse_head(head: bytes) -> tuple[bytes, Headers, int]:
    lines = head.split(b"\n")
    lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
    start = lines[0]
    if len(lines) - 1 > MAX_HEADERS:
        raise RtspError(431, f"more than {MAX_HEADERS} header fields")
    pairs: list[list[bytes]] = []
    for line in lines[1:]:
        if line[:1] in (b" ", b"\t"):  # obsolete line folding (RFC 2326 §4.2, RFC 822)
            if not pairs:
                raise RtspError(400, "header continuation without a header")
            pairs[-1][1] += b" " + line.strip()
        else:
            name, colon, value = line.partition(b":")
            if not colon or not _TOKEN.fullmatch(name):
                raise RtspError(400, f"malformed header line {_decode(line[:64])!r}")
            pairs.append([name, value.strip(b" \t")])
    headers = Headers()
    for name, value in pairs:
        if len(value) > MAX_HEADER_VALUE:
            raise RtspError(431, f"header {_decode(name)} longer than {MAX_HEADER_VALUE} bytes")
        if _CONTROL.search(value):
            raise RtspError(400, f"control character in header {_decode(name)}")
        headers.add(_decode(name), _decode(value))
    return start, headers, _content_length(headers)


def _content_length(headers: Headers) -> int:
    values = headers.get_all("Content-Length")
    if not values:
        return 0
    if len(set(values)) > 1:
        raise RtspError(400, "conflicting Content-Length headers")
    value = values[0]
    if not _DECIMAL.fullmatch(value):
        raise RtspError(400, f"invalid Content-Length {value[:32]!r}")
    length = int(value)
    if length > MAX_BODY:
        raise RtspError(413, f"body of {length} bytes exceeds {MAX_BODY}")
    return length


def _build(start: bytes, headers: Headers, body: bytes) -> Request | Response:
    if _CONTROL.search(start):
        raise RtspError(400, "control character in start line")
    if start.startswith(b"RTSP/"):
        match = _STATUS_LINE.fullmatch(start)
        if match is None:
            raise RtspError(400, f"malformed status line {_decode(start[:64])!r}")
        return Response(int(match[3]), _decode(match[4] or b""), headers, body)
    if start.startswith(b"HTTP/"):
        raise RtspError(400, f"HTTP message, not RTSP: {_decode(start[:64])!r}")
    parts = start.split(b" ")
    if len(parts) != 3 or not all(parts):
        raise RtspError(400, f"malformed request line {_decode(start[:64])!r}")
    method, uri, version = parts
    if len(method) > MAX_METHOD:
        raise RtspError(400, f"method longer than {MAX_METHOD} bytes")
    if not _TOKEN.fullmatch(method):
        raise RtspError(400, "invalid method")
    if len(uri) > MAX_URL:
        raise RtspError(414, f"request URI longer than {MAX_URL} bytes")
    version_match = _VERSION.fullmatch(version)
    if version_match is None:
        raise RtspError(400, f"not an RTSP request: {_decode(version[:16])!r}")
    if version_match[1] != b"1":
        raise RtspError(505, f"RTSP version {_decode(version[5:])} not supported")
    try:
        uri_text = uri.decode("ascii")
    except UnicodeDecodeError:
        raise RtspError(400, "non-ASCII request URI") from None
    return Request(method.decode("ascii"), uri_text, headers, body)
