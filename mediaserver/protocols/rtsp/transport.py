"""The ``Transport``, ``Session`` and ``Range`` header values (RFC 2326 §12.39, §12.37, §12.29).

Invalid transports raise ``RtspError(461)``, invalid ranges ``RtspError(457)``, invalid
session ids ``RtspError(454)``: the statuses a server answers with.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from mediaserver.protocols.rtsp.errors import RtspError

__all__ = [
    "NptRange",
    "TransportSpec",
    "format_range",
    "parse_range",
    "parse_session",
    "parse_transport",
]

#: Transport alternatives accepted in one header (a client lists its preferences).
MAX_TRANSPORTS = 16
MAX_SESSION_ID = 256

_PROFILE = re.compile(r"RTP/S?AVPF?(?:/(UDP|TCP))?", re.IGNORECASE)
_RANGE = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")
_SESSION_ID = re.compile(rf"[A-Za-z0-9$\-_.+]{{1,{MAX_SESSION_ID}}}")
_NPT_SEC = r"\d{1,12}(?:\.\d{0,9})?"
_NPT_HMS = r"\d{1,9}:\d{1,2}:\d{1,2}(?:\.\d{0,9})?"
_NPT_TIME = rf"(?:now|{_NPT_HMS}|{_NPT_SEC})"
_NPT = re.compile(rf"npt\s*=\s*({_NPT_TIME})?\s*-\s*({_NPT_TIME})?", re.IGNORECASE)


def _pair(name: str, value: str, maximum: int) -> tuple[int, int]:
    match = _RANGE.fullmatch(value.strip())
    if match is None:
        raise RtspError(461, f"invalid {name} {value[:32]!r}")
    first = int(match[1])
    second = int(match[2]) if match[2] is not None else first + 1
    if first > maximum or second > maximum or second < first:
        raise RtspError(461, f"{name} {value[:32]} out of range 0-{maximum}")
    return first, second


@dataclass(slots=True)
class TransportSpec:
    """One transport alternative. ``protocol`` is ``"TCP"`` or ``"UDP"`` (from the profile)."""

    profile: str = "RTP/AVP"
    cast: str | None = "unicast"  # "unicast" | "multicast" | None
    interleaved: tuple[int, int] | None = None
    client_port: tuple[int, int] | None = None
    server_port: tuple[int, int] | None = None
    port: tuple[int, int] | None = None
    ssrc: int | None = None
    mode: str | None = None
    destination: str | None = None
    source: str | None = None
    ttl: int | None = None
    #: parameters this class does not model, kept in order for :meth:`format`
    extra: list[tuple[str, str | None]] = field(default_factory=list)

    @property
    def protocol(self) -> str:
        return "TCP" if self.profile.upper().endswith("/TCP") else "UDP"

    def format(self) -> str:
        """The header value, parameters in the order RFC 2326's examples use."""
        parts = [self.profile]
        if self.cast:
            parts.append(self.cast)
        if self.destination is not None:
            parts.append(f"destination={self.destination}")
        if self.source is not None:
            parts.append(f"source={self.source}")
        for name in ("interleaved", "port", "client_port", "server_port"):
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{name}={value[0]}-{value[1]}")
        if self.ttl is not None:
            parts.append(f"ttl={self.ttl}")
        if self.ssrc is not None:
            parts.append(f"ssrc={self.ssrc:08X}")
        if self.mode is not None:
            parts.append(f'mode="{self.mode}"')
        parts += [name if value is None else f"{name}={value}" for name, value in self.extra]
        return ";".join(parts)


def _parse_one(text: str) -> TransportSpec:
    params = [p.strip() for p in text.split(";")]
    profile = params[0]
    if not _PROFILE.fullmatch(profile):
        raise RtspError(461, f"unsupported transport profile {profile[:32]!r}")
    spec = TransportSpec(profile=profile, cast=None)
    for param in params[1:]:
        if not param:
            continue
        name, eq, value = param.partition("=")
        key = name.strip().lower()
        value = value.strip()
        if key in ("unicast", "multicast") and not eq:
            spec.cast = key
        elif key == "interleaved":
            spec.interleaved = _pair(key, value, 255)
        elif key in ("client_port", "server_port", "port"):
            setattr(spec, key, _pair(key, value, 65535))
        elif key == "ssrc":
            # Lenient: cameras send odd widths; an unusable value is ignored, not fatal.
            try:
                ssrc = int(value, 16)
            except ValueError:
                ssrc = -1
            spec.ssrc = ssrc if 0 <= ssrc <= 0xFFFFFFFF else None
        elif key == "mode":
            spec.mode = value.strip('"').upper()
        elif key == "destination":
            spec.destination = value
        elif key == "source":
            spec.source = value
        elif key == "ttl":
            if not (value.isascii() and value.isdigit()) or int(value) > 255:
                raise RtspError(461, f"invalid ttl {value[:16]!r}")
            spec.ttl = int(value)
        else:
            spec.extra.append((name.strip(), value if eq else None))
    return spec


def parse_transport(value: str) -> list[TransportSpec]:
    """Parse a ``Transport`` header into its comma-separated alternatives."""
    alternatives = [part for part in value.split(",") if part.strip()]
    if not alternatives:
        raise RtspError(461, "empty Transport header")
    if len(alternatives) > MAX_TRANSPORTS:
        raise RtspError(461, f"more than {MAX_TRANSPORTS} transport alternatives")
    return [_parse_one(part) for part in alternatives]


def parse_session(value: str) -> tuple[str, int | None]:
    """``"A3eqwsafq3rg;timeout=60"`` → ``("A3eqwsafq3rg", 60)``; the timeout is in seconds.

    A missing or unusable ``timeout`` gives None (the caller applies the RFC default, 60 s).
    """
    session_id, _, rest = value.partition(";")
    session_id = session_id.strip()
    if not _SESSION_ID.fullmatch(session_id):
        raise RtspError(454, f"invalid session id {session_id[:32]!r}")
    timeout: int | None = None
    for param in rest.split(";"):
        name, _, raw = param.partition("=")
        if name.strip().lower() == "timeout":
            raw = raw.strip()
            if raw.isascii() and raw.isdigit() and 0 < int(raw) <= 86400:
                timeout = int(raw)
    return session_id, timeout


@dataclass(frozen=True, slots=True)
class NptRange:
    """A normal-play-time range; ``None`` bounds are open, ``start_now`` is ``npt=now-``."""

    start: float | None = None
    end: float | None = None
    start_now: bool = False


def _npt_seconds(text: str) -> float:
    if ":" in text:
        hours, minutes, seconds = text.split(":")
        if int(minutes) > 59 or float(seconds) >= 60:
            raise RtspError(457, f"invalid npt time {text!r}")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return float(text)


def parse_range(value: str) -> NptRange:
    """Parse ``Range: npt=...``; ``clock=``/``smpte=`` and anything else → RtspError(457)."""
    spec = value.split(";", 1)[0].strip()
    match = _NPT.fullmatch(spec)
    if match is None:
        raise RtspError(457, f"unsupported or invalid range {spec[:48]!r}")
    start_text, end_text = match[1], match[2]
    if start_text is None and end_text is None:
        raise RtspError(457, "empty npt range")
    if end_text is not None and end_text.lower() == "now":
        raise RtspError(457, "npt range cannot end at now")
    start_now = start_text is not None and start_text.lower() == "now"
    start = None if start_text is None or start_now else _npt_seconds(start_text)
    end = None if end_text is None else _npt_seconds(end_text)
    if start is not None and end is not None and end < start:
        raise RtspError(457, "npt range ends before it starts")
    for bound in (start, end):
        if bound is not None and not math.isfinite(bound):
            raise RtspError(457, "npt time is not finite")
    return NptRange(start, end, start_now)


def format_range(start: float | None = 0.0, end: float | None = None, *,
                 now: bool = False) -> str:
    """``format_range(0)`` → ``"npt=0.000-"``; ``format_range(now=True)`` → ``"npt=now-"``."""
    head = "now" if now else ("" if start is None else f"{start:.3f}")
    tail = "" if end is None else f"{end:.3f}"
    return f"npt={head}-{tail}"
