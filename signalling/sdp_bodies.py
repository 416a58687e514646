"""HTTP plumbing shared by the WHEP and WHIP endpoints (RFC 9725 shape): errors with status,
bounded body reading, CORS headers, the access check mapped to 401/403/404, SDP offer checks
and trickle-ICE PATCH bodies (RFC 8840 sdpfrag)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from aiohttp import web
from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from mediaserver.errors import AccessDenied, HttpError, SourceNotFound
from mediaserver.redact import scrub

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
MAX_PATCH_BYTES = 16 * 1024
MAX_PATCH_CANDIDATES = 64

#: ``access(request, source_id, action)`` returns the principal or raises AccessDenied (401/403/
#: 404) or SourceNotFound.
AccessCheck = Callable[[web.Request, str, str], Awaitable[object]]


async def read_body(request: web.Request, limit: int) -> bytes:
    """Read at most ``limit`` bytes of body; 413 past it (declared or streamed)."""
    if request.content_length is not None and request.content_length > limit:
        raise HttpError(413, f"body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16384):
        size += len(chunk)
        if size > limit:
            raise HttpError(413, f"body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_offer(request: web.Request) -> bytes:
    """Content type (415) and size (413) of an SDP offer, checked before anything else."""
    if request.content_type != "application/sdp":
        raise HttpError(415, "offer must be Content-Type: application/sdp",
                        {"Accept-Post": "application/sdp"})
    return await read_body(request, MAX_OFFER_BYTES)


async def authorize(access: AccessCheck, request: web.Request, source_id: str,
                    action: str) -> object:
    """The principal, or :class:`HttpError` 401 (with ``WWW-Authenticate``) / 403 / 404."""
    try:
        return await access(request, source_id, action)
    except AccessDenied as exc:
        status = exc.status if exc.status in (401, 403, 404) else 403
        headers = {"WWW-Authenticate": 'Bearer realm="fusionhub"'} if status == 401 else {}
        raise HttpError(status, str(exc) or "access denied", headers) from None
    except SourceNotFound:
        raise HttpError(404, "no such source") from None


def cors_headers(origins: tuple[str, ...], request: web.Request,
                 methods: str = "POST, PATCH, DELETE, OPTIONS") -> dict[str, str]:
    origin = request.headers.get("Origin")
    headers: dict[str, str] = {}
    if "*" in origins:
        headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in origins:
        headers["Access-Control-Allow-Origin"] = origin
        headers["Vary"] = "Origin"
    else:
        return headers
    headers["Access-Control-Allow-Methods"] = methods
    headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type, If-Match"
    headers["Access-Control-Expose-Headers"] = "Location, Link, ETag"
    return headers


def error_response(origins: tuple[str, ...], request: web.Request, err: HttpError
                   ) -> web.Response:
    headers = cors_headers(origins, request)
    headers.update(err.headers)
    return web.Response(status=err.status, text=scrub(str(err)) + "\n", headers=headers)


async def apply_sdpfrag(pc: RTCPeerConnection, ice_ufrag: str | None, text: str) -> None:
    """Add trickled candidates (RFC 8840 sdpfrag) to a session's peer connection."""
    mids = [t.mid for t in pc.getTransceivers() if t.mid is not None]
    mid = mids[0] if mids else None
    candidates = []
    end = False
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("a=ice-ufrag:"):
            if ice_ufrag is not None and line[12:] != ice_ufrag:
                raise HttpError(422, "ICE restart is not supported; open a new session")
        elif line.startswith("a=mid:"):
            mid = line[6:] if line[6:] in mids else mid
        elif line.startswith("a=candidate:"):
            try:
                candidate = candidate_from_sdp(line[12:])
            except Exception:  # noqa: BLE001 - aiortc raises AssertionError/ValueError
                raise HttpError(400, "malformed a=candidate line") from None
            candidate.sdpMid = mid
            candidates.append(candidate)
        elif line == "a=end-of-candidates":
            end = True
    if len(candidates) > MAX_PATCH_CANDIDATES:
        raise HttpError(400, f"more than {MAX_PATCH_CANDIDATES} candidates in one PATCH")
    try:
        for candidate in candidates:
            await pc.addIceCandidate(candidate)
        if end:
            await pc.addIceCandidate(None)
    except (ValueError, AssertionError) as exc:
        raise HttpError(400, f"candidate rejected: {exc}") from None
