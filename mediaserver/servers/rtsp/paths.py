"""Request URIs of the RTSP server: ``rtsp://host:port/{source_id}[/trackID=0]``."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from ...protocols.rtsp.errors import RtspError
from .sdp import TRACK_CONTROL

_SOURCE_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SCHEMES = frozenset({"rtsp", "rtsps", "rtspt"})


def parse_uri(uri: str) -> tuple[str, str | None]:
    """``(source_id, control)``; RtspError 400 for a malformed URI or source id (path tricks
    such as ``..``, ``%2e%2e`` or a backslash included), 404 for a path the server does not
    have."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        raise RtspError(400, "malformed request URI") from None
    if parts.scheme.lower() not in _SCHEMES and not (not parts.scheme and uri.startswith("/")):
        raise RtspError(400, "request URI is not an rtsp:// URL")
    segments = [segment for segment in parts.path.split("/") if segment]
    if not segments:
        raise RtspError(404, "no stream in request URI")
    source_id = segments[0]
    if not _SOURCE_ID.fullmatch(source_id) or not source_id.strip("."):
        raise RtspError(400, "invalid stream name")
    if len(segments) > 2 or (len(segments) == 2 and segments[1] != TRACK_CONTROL):
        raise RtspError(404, "no such track")
    return source_id, segments[1] if len(segments) == 2 else None


def base_url(uri: str, source_id: str, fallback_netloc: str) -> str:
    """The aggregate URL of a stream (``Content-Base``), without credentials or query."""
    parts = urlsplit(uri)
    netloc = parts.netloc.rsplit("@", 1)[-1] or fallback_netloc
    scheme = parts.scheme.lower() or "rtsp"
    return f"{scheme}://{netloc}/{source_id}/"
