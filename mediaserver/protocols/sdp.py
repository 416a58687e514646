"""Session descriptions (SDP, RFC 8866) as RTSP cameras and WebRTC peers write them.

:meth:`SessionDescription.parse` is lenient where cameras are sloppy (bare LF line ends, blank
lines, trailing blanks, unknown line types and attributes, missing ``v=``) and strict where
input could cost memory or break a consumer: at most :data:`MAX_SDP_SIZE` characters,
:data:`MAX_SDP_LINES` lines, :data:`MAX_SDP_LINE` characters a line, :data:`MAX_MEDIA`
media sections, payload types 0-127 and clock rates above 0. Every failure is an
:class:`~mediaserver.protocols.rtsp.errors.SdpError` naming the line.

Parsing then serializing gives back the same lines in the same order (with CRLF endings);
``rtpmap``, ``fmtp``, ``control`` and ``direction`` are editable fields, the other attributes
stay in :attr:`MediaDescription.attributes` in wire order.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from mediaserver.protocols.rtsp.errors import SdpError

__all__ = [
    "MAX_MEDIA",
    "MAX_SDP_LINE",
    "MAX_SDP_LINES",
    "MAX_SDP_SIZE",
    "MediaDescription",
    "RtpMap",
    "SdpError",
    "SessionDescription",
    "format_fmtp",
    "parse_fmtp",
    "resolve_control",
]

MAX_SDP_SIZE = 128 * 1024
MAX_SDP_LINES = 10_000
MAX_SDP_LINE = 8 * 1024
MAX_MEDIA = 16
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")

Attribute = tuple[str, str | None]
_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_DECIMAL = re.compile(r"[0-9]{1,10}")


def _is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts ``²`` and other digits ``int`` refuses."""
    return _DECIMAL.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class RtpMap:
    """``a=rtpmap:<pt> <encoding>/<clock rate>[/<channels>]``."""

    encoding: str
    clock_rate: int
    channels: int | None = None

    def format(self) -> str:
        tail = f"/{self.channels}" if self.channels is not None else ""
        return f"{self.encoding}/{self.clock_rate}{tail}"


def parse_fmtp(text: str) -> dict[str, str]:
    """``"packetization-mode=1; profile-level-id=42e01f"`` → dict with lower-cased keys."""
    params: dict[str, str] = {}
    for part in text.split(";"):
        name, _, value = part.strip().partition("=")
        if name:
            params[name.strip().lower()] = value.strip()
    return params


def format_fmtp(params: dict[str, str]) -> str:
    return ";".join(f"{k}={v}" if v else k for k, v in params.items())


def _parse_rtpmap(value: str, lineno: int) -> tuple[int, RtpMap]:
    pt_text, _, rest = value.partition(" ")
    parts = rest.strip().split("/")
    if len(parts) < 2 or not parts[0]:
        raise SdpError(f"line {lineno}: malformed rtpmap {value[:64]!r}")
    pt = _payload_type(pt_text, lineno)
    rate_text = parts[1].strip()
    if not _is_decimal(rate_text) or int(rate_text) == 0:
        raise SdpError(f"line {lineno}: clock rate must be a positive integer, "
                       f"got {parts[1][:16]!r}")
    channels = None
    if len(parts) > 2 and parts[2].strip():
        if not _is_decimal(parts[2].strip()):
            raise SdpError(f"line {lineno}: invalid channel count {parts[2][:16]!r}")
        channels = int(parts[2].strip())
    return pt, RtpMap(parts[0].strip(), int(rate_text), channels)


def _payload_type(text: str, lineno: int) -> int:
    text = text.strip()
    if not _is_decimal(text) or int(text) > 127:
        raise SdpError(f"line {lineno}: invalid payload type {text[:16]!r}")
    return int(text)


def _format_attribute(name: str, value: str | None) -> str:
    return f"a={name}" if value is None else f"a={name}:{value}"


@dataclass(slots=True)
class MediaDescription:
    """One ``m=`` section. ``formats`` holds ints (RTP payload types) or strings."""

    kind: str
    port: int
    proto: str
    formats: list[int | str] = field(default_factory=list)
    port_count: int | None = None
    title: str | None = None
    connection: str | None = None
    bandwidths: list[str] = field(default_factory=list)
    rtpmap: dict[int, RtpMap] = field(default_factory=dict)
    fmtp: dict[int, dict[str, str]] = field(default_factory=dict)
    control: str | None = None
    direction: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    #: other media-level lines (k=, unknown types), serialized after b=
    extra: list[tuple[str, str]] = field(default_factory=list)
    #: wire order of the a= lines and the raw fmtp text, so serialize() round-trips
    _layout: list[tuple[str, int]] = field(default_factory=list, repr=False, compare=False)
    _fmtp_raw: dict[int, tuple[dict[str, str], str]] = field(default_factory=dict, repr=False,
                                                             compare=False)

    def attribute(self, name: str) -> str | None:
        """The value of the first other attribute called ``name`` (None when absent)."""
        return next((v for n, v in self.attributes if n == name), None)

    def encoding(self, pt: int) -> str | None:
        """The upper-cased encoding name of payload type ``pt``, if it has an rtpmap."""
        rtpmap = self.rtpmap.get(pt)
        return rtpmap.encoding.upper() if rtpmap else None

    def _add_attribute(self, name: str, value: str | None, lineno: int) -> None:
        if name == "rtpmap" and value is not None:
            pt, rtpmap = _parse_rtpmap(value, lineno)
            self.rtpmap[pt] = rtpmap
            self._layout.append(("rtpmap", pt))
        elif name == "fmtp" and value is not None:
            pt_text, _, params = value.partition(" ")
            pt = _payload_type(pt_text, lineno)
            self.fmtp[pt] = parse_fmtp(params)
            self._fmtp_raw[pt] = (dict(self.fmtp[pt]), value)
            self._layout.append(("fmtp", pt))
        elif name == "control" and value is not None:
            self.control = value
            self._layout.append(("control", 0))
        elif name in DIRECTIONS and value is None:
            self.direction = name
            self._layout.append(("direction", 0))
        else:
            self.attributes.append((name, value))
            self._layout.append(("attr", 0))

    def _fmtp_line(self, pt: int) -> str:
        params = self.fmtp[pt]
        raw = self._fmtp_raw.get(pt)
        if raw is not None and raw[0] == params:
            return f"a=fmtp:{raw[1]}"
        return f"a=fmtp:{pt} {format_fmtp(params)}"

    def serialize_lines(self) -> list[str]:
        port = f"{self.port}/{self.port_count}" if self.port_count is not None else str(self.port)
        lines = [" ".join([f"m={self.kind}", port, self.proto, *map(str, self.formats)])]
        if self.title is not None:
            lines.append(f"i={self.title}")
        if self.connection is not None:
            lines.append(f"c={self.connection}")
        lines += [f"b={b}" for b in self.bandwidths]
        lines += [f"{k}={v}" for k, v in self.extra]
        done: set[tuple[str, int]] = set()
        attrs = iter(self.attributes)
        for kind, pt in self._layout:
            line = self._layout_line(kind, pt, attrs, done)
            if line is not None:
                lines.append(line)
        for pt in self.rtpmap:
            if ("rtpmap", pt) not in done:
                lines.append(f"a=rtpmap:{pt} {self.rtpmap[pt].format()}")
        for pt in self.fmtp:
            if ("fmtp", pt) not in done:
                lines.append(self._fmtp_line(pt))
        if self.control is not None and ("control", 0) not in done:
            lines.append(f"a=control:{self.control}")
        if self.direction is not None and ("direction", 0) not in done:
            lines.append(f"a={self.direction}")
        lines += [_format_attribute(n, v) for n, v in attrs]
        return lines

    def _layout_line(self, kind: str, pt: int, attrs: Iterator[Attribute],
                     done: set[tuple[str, int]]) -> str | None:
        if (kind, pt) in done:
            return None
        if kind == "attr":
            item = next(attrs, None)
            return None if item is None else _format_attribute(*item)
        done.add((kind, pt))
        if kind == "rtpmap" and pt in self.rtpmap:
            return f"a=rtpmap:{pt} {self.rtpmap[pt].format()}"
        if kind == "fmtp" and pt in self.fmtp:
            return self._fmtp_line(pt)
        if kind == "control" and self.control is not None:
            return f"a=control:{self.control}"
        if kind == "direction" and self.direction is not None:
            return f"a={self.direction}"
        return None


#: Session-level line types in the order RFC 8866 §5 prescribes (before the a= lines).
_SESSION_ORDER = "vosiuepcbtrzk"


@dataclass(slots=True)
class SessionDescription:
    """A whole session description: session-level lines, attributes and media sections."""

    version: int = 0
    origin: str = "- 0 0 IN IP4 127.0.0.1"
    name: str = "-"
    connection: str | None = None
    times: list[str] = field(default_factory=lambda: ["0 0"])
    control: str | None = None
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    #: other session-level lines (i=, u=, e=, p=, b=, r=, z=, k=, unknown) in wire order
    extra: list[tuple[str, str]] = field(default_factory=list)
    _control_index: int | None = field(default=None, repr=False, compare=False)

    def attribute(self, name: str) -> str | None:
        return next((v for n, v in self.attributes if n == name), None)

    @classmethod
    def parse(cls, text: str) -> SessionDescription:
        """Parse ``text``; raise :class:`SdpError` on malformed or oversized input."""
        if len(text) > MAX_SDP_SIZE:
            raise SdpError(f"SDP of {len(text)} characters exceeds {MAX_SDP_SIZE}")
        if text.count("\n") >= MAX_SDP_LINES:
            raise SdpError(f"SDP has more than {MAX_SDP_LINES} lines")
        session = cls(version=0, origin="", name="", times=[])
        media: MediaDescription | None = None
        for lineno, raw in enumerate(text.split("\n"), 1):
            line = raw.strip("\r \t")
            if not line:
                continue
            if len(line) > MAX_SDP_LINE:
                raise SdpError(f"line {lineno} longer than {MAX_SDP_LINE} characters")
            if len(line) < 2 or line[1] != "=" or not line[0].isalpha():
                raise SdpError(f"line {lineno} is not <type>=<value>: {line[:32]!r}")
            kind, value = line[0], line[2:]
            if kind == "m":
                if len(session.media) == MAX_MEDIA:
                    raise SdpError(f"more than {MAX_MEDIA} media sections")
                media = _parse_media(value, lineno)
                session.media.append(media)
            elif media is not None:
                _media_line(media, kind, value, lineno)
            else:
                session._session_line(kind, value, lineno)
        return session

    def _session_line(self, kind: str, value: str, lineno: int) -> None:
        if kind == "v":
            if not _is_decimal(value.strip()):
                raise SdpError(f"line {lineno}: invalid version {value[:16]!r}")
            self.version = int(value.strip())
        elif kind == "o":
            self.origin = value
        elif kind == "s":
            self.name = value
        elif kind == "c":
            self.connection = value
        elif kind == "t":
            self.times.append(value)
        elif kind == "a":
            name, colon, attr_value = value.partition(":")
            if name == "control" and colon:
                self.control = attr_value
                self._control_index = len(self.attributes)
            else:
                self.attributes.append((name, attr_value if colon else None))
        else:
            self.extra.append((kind, value))

    def serialize(self) -> str:
        """The description as text with CRLF line ends."""
        fields: dict[str, list[str]] = {k: [] for k in _SESSION_ORDER}
        fields["v"] = [str(self.version)]
        fields["o"] = [self.origin]
        fields["s"] = [self.name]
        if self.connection is not None:
            fields["c"] = [self.connection]
        fields["t"] = list(self.times)
        unknown: list[str] = []
        for kind, value in self.extra:
            (fields[kind] if kind in fields else unknown).append(value)
        lines = [f"{k}={v}" for k in _SESSION_ORDER for v in fields[k]]
        lines += [f"{k}={v}" for k, v in self.extra if k not in fields]
        attrs = [_format_attribute(n, v) for n, v in self.attributes]
        if self.control is not None:
            index = len(attrs) if self._control_index is None else self._control_index
            attrs.insert(min(index, len(attrs)), f"a=control:{self.control}")
        lines += attrs
        for media in self.media:
            lines += media.serialize_lines()
        return "\r\n".join(lines) + "\r\n"


def _parse_media(value: str, lineno: int) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError(f"line {lineno}: malformed media line {value[:64]!r}")
    port_text, _, count_text = parts[1].partition("/")
    if not _is_decimal(port_text) or int(port_text) > 65535:
        raise SdpError(f"line {lineno}: invalid media port {parts[1][:16]!r}")
    if count_text and not _is_decimal(count_text):
        raise SdpError(f"line {lineno}: invalid port count {parts[1][:16]!r}")
    formats: list[int | str] = [int(f) if _is_decimal(f) else f for f in parts[3:]]
    if "RTP/" in parts[2].upper():
        for fmt in formats:
            if not isinstance(fmt, int) or fmt > 127:
                raise SdpError(f"line {lineno}: invalid payload type {str(fmt)[:16]!r}")
    return MediaDescription(parts[0], int(port_text), parts[2], formats,
                            port_count=int(count_text) if count_text else None)


def _media_line(media: MediaDescription, kind: str, value: str, lineno: int) -> None:
    if kind == "a":
        name, colon, attr_value = value.partition(":")
        media._add_attribute(name, attr_value if colon else None, lineno)
    elif kind == "c":
        media.connection = value
    elif kind == "b":
        media.bandwidths.append(value)
    elif kind == "i":
        media.title = value
    else:
        media.extra.append((kind, value))  # rare: k= or unknown line types


def resolve_control(base_url: str, control: str | None) -> str:
    """The URL to SETUP a track (RFC 2326 C.1.1), as ffmpeg, live555 and gortsplib do it.

    ``base_url`` is the DESCRIBE response's Content-Base (else Content-Location, else the
    request URL). An absolute ``control`` wins; ``*`` or none means the base itself; a
    relative one is appended to the base with exactly one ``/`` between them (cameras give
    ``Content-Base: rtsp://cam/live`` and expect ``rtsp://cam/live/trackID=1``).
    """
    if control is None or control.strip() in ("", "*"):
        return base_url
    control = control.strip()
    if _ABSOLUTE.match(control):
        return control
    if control.startswith("/"):
        scheme, sep, rest = base_url.partition("://")
        return f"{scheme}{sep}{rest.split('/', 1)[0]}{control}"
    return base_url + ("" if base_url.endswith("/") else "/") + control
