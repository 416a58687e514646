"""Keep secrets (camera passwords, tokens) out of logs and API responses."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s]*@")
_SECRET_QUERY = re.compile(r"(?i)((?:password|passwd|pwd|token|secret|key)=)[^&\s]*")


def redact_url(url: str) -> str:
    """``rtsp://user:pw@cam/x?token=t`` → ``rtsp://***@cam/x?token=***`` (keeps host and path)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return scrub(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = _SECRET_QUERY.sub(r"\1***", parts.query)
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def scrub(text: str) -> str:
    """Remove URL credentials and secret query values from free text (error messages)."""
    return _SECRET_QUERY.sub(r"\1***", _USERINFO.sub(r"\g<scheme>***@", text))
