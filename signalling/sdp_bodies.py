"""The bodies the WHEP and WHIP endpoints read (RFC 9725 shape): the SDP offer (type and size
checked first) and trickle-ICE PATCH bodies (RFC 8840 sdpfrag); the access check mapped to
:class:`~mediaserver.errors.HttpError` 401/403/404, and the JSON error answer with CORS
headers (the status mapping is :func:`mediaserver.errors.refusal`)."""

from __future__ import annotations

import logging

from aiohttp import web
from aiortc import RTCPeerConnection
from aiortc.sdp import candidate_from_sdp

from mediaserver.errors import AccessDenied, HttpError, SourceNotFound, refusal
from mediaserver.http.access import AccessCheck
from mediaserver.http.body import read_body
from mediaserver.http.cors import cors_headers
from mediaserver.http.errors import error_response as http_error_response

logger = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
MAX_PATCH_BYTES = 16 * 1024
MAX_PATCH_CANDIDATES = 64


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
    except (AccessDenied, SourceNotFound) as exc:
        refused = refusal(exc)
        assert refused is not None
        raise HttpError(refused.status, refused.message, refused.headers) from None


def error_response(origins: tuple[str, ...], request: web.Request, err: HttpError
                   ) -> web.Response:
    """The JSON error answer (CORS headers included, so browsers can read it)."""
    refused = refusal(err)
    assert refused is not None
    return http_error_response(refused, cors_headers(origins, request))


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
