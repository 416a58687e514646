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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code - 0xDC00 if 0xDC80 <= code <= 0xDCFF else code:02x}" if code < 0xD800 \
        or 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    """Client-supplied text fit for one log line: control characters (NUL, CR, LF, ESC...)
    and undecodable bytes (lone surrogates) are shown as ``\\xNN``, so a request cannot
    forge log lines or smuggle terminal escapes."""
    return _CONTROL.sub(_escape, text)
